"""A code location for the automation benchmark: a no-op job, interval schedules and quiet sensors.

BENCH_SCHEDULES schedules tick every BENCH_EVERY_S seconds; BENCH_SENSORS sensors evaluate every
BENCH_SENSOR_INTERVAL_S seconds and skip (their cost is the evaluation loop itself, not runs).
"""

import os

from longshoreman import Definitions, Schedule, SkipReason, job, sensor


@job
def noop() -> None:
    """Do nothing: what is measured is the tick, not the job."""


def _skip(context):  # type: ignore[no-untyped-def]
    return SkipReason("nothing to do")


EVERY_S = float(os.environ.get("BENCH_EVERY_S", "10"))
schedules = [
    Schedule(job=noop, every_s=EVERY_S, name=f"every_{i:03d}")
    for i in range(int(os.environ.get("BENCH_SCHEDULES", "0")))
]
sensors = [
    sensor(job=noop, minimum_interval_s=float(os.environ.get("BENCH_SENSOR_INTERVAL_S", "5")), name=f"quiet_{i:03d}")(
        _skip
    )
    for i in range(int(os.environ.get("BENCH_SENSORS", "0")))
]

defs = Definitions(jobs=[noop], schedules=schedules, sensors=sensors)
