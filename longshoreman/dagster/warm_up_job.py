"""The no-op Dagster job a standby run worker runs while it waits (longshoreman/dagster/run.py: warm_up)."""

import dagster as dg


@dg.op
def nothing() -> None:
    """Do nothing: the point is Dagster's own set-up around it."""


@dg.job(executor_def=dg.in_process_executor, logger_defs={})
def longshoreman_warm_up() -> None:
    nothing()
