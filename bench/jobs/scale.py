"""A code location for benchmarks: quiet sleeping jobs and a no-op."""

import time

from longshoreman import Definitions, job


@job(config_schema={"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0}}})
def nap(context):  # type: ignore[no-untyped-def]
    """Print once, sleep quietly, print once: supervision load without log traffic."""
    print("napping", flush=True)
    time.sleep(float(context.config.get("seconds", 60)))
    print("awake", flush=True)


@job
def noop() -> None:
    """Do nothing: the orchestration overhead of a run."""


@job
def fail() -> None:
    """Fail at once (bench/alert_latency.py: run failure → alert)."""
    raise RuntimeError("the bench job failed on purpose")


defs = Definitions(jobs=[nap, noop, fail])
