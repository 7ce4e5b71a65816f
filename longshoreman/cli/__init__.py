"""The `longshoreman` command line: typer commands that talk to the control plane's REST API."""
