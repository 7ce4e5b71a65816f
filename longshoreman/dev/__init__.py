"""The embedded dev stack: Temporal dev server, control plane and agent as local processes."""
