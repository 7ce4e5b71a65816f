"""The Longshoreman control plane: REST API, storage, tokens and the Temporal client that steers workflows."""
