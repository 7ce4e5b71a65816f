"""The hello code location: jobs that succeed, fail, run long and print a lot; a schedule and a sensor."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from longshoreman import (
    Definitions,
    JobContext,
    RunRequest,
    ScheduleContext,
    SensorContext,
    SensorResult,
    SkipReason,
    job,
    schedule,
    sensor,
)


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


@schedule(job=greet, cron="0 * * * *", default_status="STOPPED")
def hourly_greeting(context: ScheduleContext) -> dict[str, str]:
    """Greet every hour, on the hour (UTC), naming the hour."""
    return {"name": f"the {context.scheduled_time:%H}:00 crowd"}


INBOX = Path(os.environ.get("HELLO_INBOX", "/tmp/longshoreman-hello-inbox"))


@sensor(job=count, minimum_interval_s=10, default_status="STOPPED")
def inbox_files(context: SensorContext) -> SensorResult | SkipReason:
    """Count the lines of every new file in $HELLO_INBOX: one run per file, ever (its name is the run key).

    The cursor is the newest modification time seen, so each tick lists only what is new.
    """
    if not INBOX.is_dir():
        return SkipReason(f"{INBOX} does not exist yet")
    since = int(context.cursor or 0)
    fresh = sorted((f.stat().st_mtime_ns, f.name) for f in INBOX.iterdir() if f.is_file())
    fresh = [(mtime, name) for mtime, name in fresh if mtime >= since]
    if not fresh:
        return SkipReason(f"no new file in {INBOX}")
    requests = [
        RunRequest(config={"n": len((INBOX / name).read_text().splitlines())}, tags={"file": name}, run_key=name)
        for _, name in fresh
    ]
    # Files modified at exactly the cursor's time are listed again next tick: their run keys launch nothing twice.
    return SensorResult(requests, cursor=str(fresh[-1][0]))


defs = Definitions(jobs=[greet, fail, sleepy, count], schedules=[hourly_greeting], sensors=[inbox_files])
