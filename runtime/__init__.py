"""What every Longshoreman process (agent, control plane, CLI, replayer) shares to run.

Settings (environment + YAML file), logging, and the way to Temporal: the data converter and the payload
encryption codec. Unlike `contracts/` (data shapes, no I/O), this package reads files and talks to Temporal;
user images (the SDK) never import it.
"""
