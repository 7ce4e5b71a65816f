"""The hello code location: jobs that succeed, fail, run long and print a lot."""

from __future__ import annotations

import math
import time

from longshoreman import Definitions, JobContext, job


@job(
    config_schema={
        "type": "object",
        "properties": {"name": {"type": "string", "default": "world", "description": "Who to greet."}},
    }
)
def greet(context: JobContext) -> None:
    """Print a greeting.

    Prints "hello, <name>" and records a GREETED event.
    """
    name = context.config["name"]
    print(f"hello, {name}")
    context.log_event("GREETED", f"greeted {name}")


@job
def fail() -> None:
    """Fail on purpose with a ValueError."""
    raise ValueError("boom: the hello job failed on purpose")


@job(
    config_schema={
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "default": 30, "description": "How long to run."}},
    }
)
def sleepy(context: JobContext) -> None:
    """Run for a while, printing a progress line every second (for cancel and agent-restart tests)."""
    seconds = float(context.config["seconds"])
    deadline = time.monotonic() + seconds
    for tick in range(1, math.ceil(seconds) + 1):
        time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
        print(f"sleepy: {min(tick, seconds):g}/{seconds:g} s", flush=True)


@job(
    config_schema={
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "default": 10, "description": "Lines to print."}},
    }
)
def count(context: JobContext) -> None:
    """Print n numbered lines (for log tests)."""
    for i in range(1, int(context.config["n"]) + 1):
        print(f"line {i}")


defs = Definitions(jobs=[greet, fail, sleepy, count])
