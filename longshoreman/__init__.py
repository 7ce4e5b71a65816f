"""Longshoreman SDK: declare jobs with `@job`, schedules and sensors, and expose them with one `Definitions`.

Importing this package stays light (standard library only): it runs inside user images, where the
code server and the run executor start often and start-up latency matters.
"""

from longshoreman.automations import (
    RunRequest,
    Schedule,
    ScheduleContext,
    Sensor,
    SensorContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)
from longshoreman.definitions import Definitions, Job, JobContext, job

__all__ = [
    "Definitions",
    "Job",
    "JobContext",
    "RunRequest",
    "Schedule",
    "ScheduleContext",
    "Sensor",
    "SensorContext",
    "SensorResult",
    "SkipReason",
    "job",
    "schedule",
    "sensor",
]
