"""Dagster code locations: an unmodified Dagster project served by our code server and run by our run worker.

Only the code server and the run worker of a location with `framework: dagster` import this package (and so
dagster), inside the user's environment or image; the agent, the control plane and SDK locations never do.
Modules: `loader` (find the dagster.Definitions), `config_schema` (Dagster config types as JSON Schema),
`catalog` (the location's definitions as ours), `automations` (schedule and sensor ticks by Dagster's own
machinery), `events` (Dagster's event log as our run events), `run` (one run with Dagster's execute_job).
"""
