"""Automations in user code: `@schedule` and `@sensor`, which launch runs of a location's jobs by themselves.

Standard library only, like the rest of the SDK. A schedule names its job and when it ticks (a cron expression or
an interval, in a time zone); a schedule function, if given, decides each tick (a config, or a skip reason). A
sensor is a function evaluated every `minimum_interval_s`: it receives the cursor it returned last time and
returns run requests (each with a `run_key`: one run per key, ever), a skip reason and a new cursor.

Errors in a definition (an invalid cron, an unknown time zone, an unknown job) do not stop the location from
loading: the automation carries the error and shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from contracts.code_server_protocol import MIN_TICK_INTERVAL_S
from longshoreman.callables import first_paragraph, takes_context

RUNNING, STOPPED = "RUNNING", "STOPPED"
OVERLAP_POLICIES = ("allow", "skip", "buffer_one")
CATCHUP_POLICIES = ("latest", "all", "none")
MAX_RUN_REQUESTS = 1000
MAX_CURSOR = 64_000
# The same rule as contracts.automations.AUTOMATION_NAME: names appear in URLs and Temporal ids.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")
_CRON_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


class SkipReason:
    """A tick that launches nothing, and why."""

    def __init__(self, reason: str = "") -> None:
        self.reason = str(reason)

    def __repr__(self) -> str:
        return f"SkipReason({self.reason!r})"


class RunRequest:
    """One run a schedule or sensor asks for: its config and tags; `run_key` makes a sensor's request idempotent."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None, run_key: str | None = None
    ) -> None:
        self.config = dict(config or {})
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.run_key = None if run_key is None else str(run_key)

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {"config": self.config, "tags": self.tags, "run_key": self.run_key}


class SensorResult:
    """What one sensor evaluation decided: the runs to launch, or why none, and the cursor to keep."""

    def __init__(
        self, run_requests: list[RunRequest] | None = None, cursor: str | None = None, skip_reason: str | None = None
    ) -> None:
        self.run_requests = list(run_requests or [])
        self.cursor = cursor
        self.skip_reason = skip_reason


class ScheduleContext:
    """What a schedule function receives: which tick it decides."""

    def __init__(self, schedule_name: str, scheduled_time: datetime) -> None:
        self.schedule_name = schedule_name
        self.scheduled_time = scheduled_time


class SensorContext:
    """What a sensor function receives: its last cursor and when it last ran."""

    def __init__(self, sensor_name: str, cursor: str | None, last_tick_time: datetime | None) -> None:
        self.sensor_name = sensor_name
        self.cursor = cursor
        self.last_tick_time = last_tick_time


def _job_name(job: Any) -> str:
    return str(getattr(job, "name", job))


def _checked_name(name: str, what: str) -> str:
    # A name that cannot be used is a load failure: the automation could not even be shown by it.
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{what} name {name!r} is invalid: letters, digits, '_', '.', '-', at most 100, not starting with a digit"
        )
    return name


def _json_problem(what: str, value: Any) -> str:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as err:
        return f"{what} is not JSON: {err}"
    return ""


def _arity(fn: Callable[..., Any] | None, what: str) -> tuple[bool, str]:
    """(takes the context, the definition error if its signature is wrong)."""
    if fn is None:
        return False, ""
    if not callable(fn):
        return False, f"{what} needs a function, got {fn!r}"
    try:
        return takes_context(fn, what), ""
    except TypeError as err:
        return False, str(err)


def failure(exc: BaseException) -> dict[str, Any]:
    """The wire form of an evaluation that raised: the error line and the user's traceback."""
    import traceback  # here, as in definitions.py and executor.py: not on every run worker's start-up path

    summary = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return {"error": summary, "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))}


class Schedule:
    """A schedule of one job: when it ticks, and what each tick launches."""

    def __init__(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        job: Any,
        cron: str | None = None,
        every_s: float | None = None,
        timezone: str = "UTC",
        config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        default_status: str = RUNNING,
        name: str | None = None,
        description: str | None = None,
        overlap: str = "allow",
        catchup: str = "latest",
    ) -> None:
        self.fn = fn
        self.job_ref, self.job = job, _job_name(job)
        self.name = _checked_name(name or getattr(fn, "__name__", None) or f"{self.job}_schedule", "schedule")
        self.cron, self.every_s, self.timezone = cron, every_s, timezone
        self.config, self.tags = dict(config or {}), {str(k): str(v) for k, v in (tags or {}).items()}
        self.default_status, self.overlap, self.catchup = default_status, overlap, catchup
        self.description = description if description is not None else first_paragraph(getattr(fn, "__doc__", None))
        self._takes_context, signature_error = _arity(fn, f"schedule {self.name!r}")
        self.error = signature_error or self._problem()

    def _problem(self) -> str:
        if (self.cron is None) == (self.every_s is None):
            return "give exactly one of cron= and every_s="
        if self.cron is not None:
            fields = self.cron.split()
            if not (self.cron.strip() in _CRON_ALIASES or (len(fields) == 5 and all(map(_CRON_FIELD.match, fields)))):
                return f"cron {self.cron!r} is not a cron expression of 5 fields (minute hour day month weekday)"
        if self.every_s is not None and not (
            isinstance(self.every_s, int | float) and self.every_s >= MIN_TICK_INTERVAL_S
        ):
            return f"every_s must be a number of seconds, at least {MIN_TICK_INTERVAL_S:g} (got {self.every_s!r})"
        # Imported here, not with the SDK: zoneinfo (with sysconfig) costs every run worker ~5 ms of start-up, and
        # only a location that declares schedules needs it.
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown time zone {self.timezone!r}"
        if self.default_status not in (RUNNING, STOPPED):
            return f"default_status must be {RUNNING} or {STOPPED}"
        if self.overlap not in OVERLAP_POLICIES:
            return f"overlap must be one of {', '.join(OVERLAP_POLICIES)}"
        if self.catchup not in CATCHUP_POLICIES:
            return f"catchup must be one of {', '.join(CATCHUP_POLICIES)}"
        return _json_problem("config", self.config)

    def to_dict(self) -> dict[str, Any]:
        """The schedule as the code server reports it in the location's definitions."""
        return {
            "name": self.name,
            "job": self.job,
            "cron": self.cron,
            "every_s": self.every_s,
            "timezone": self.timezone,
            "config": {} if _json_problem("config", self.config) else self.config,
            "tags": self.tags,
            "default_status": self.default_status,
            "description": self.description,
            "overlap": self.overlap,
            "catchup": self.catchup,
            "decides_ticks": self.fn is not None,
            "error": self.error,
        }

    def evaluate(self, scheduled_time: datetime) -> dict[str, Any]:
        """One tick: {"run_requests": [...]} (one run) or {"skip_reason": ...}, or {"error": ...} if it raised."""
        if self.fn is None:
            return {"run_requests": [RunRequest(self.config, self.tags).to_dict()]}
        try:
            context = ScheduleContext(self.name, scheduled_time)
            decided = self.fn(context) if self._takes_context else self.fn()
        except Exception as exc:
            return failure(exc)
        if isinstance(decided, SkipReason):
            return {"skip_reason": decided.reason or "the schedule function skipped this tick"}
        if decided is None:
            decided = {}
        if isinstance(decided, RunRequest):
            request = RunRequest(self.config | decided.config, self.tags | decided.tags)
        elif isinstance(decided, Mapping):
            request = RunRequest(self.config | dict(decided), self.tags)
        else:
            return {"error": f"schedule {self.name} returned {type(decided).__name__}: expected a config dict, "
                    "a RunRequest, a SkipReason or None"}  # fmt: skip
        return {"run_requests": [request.to_dict()]}


class Sensor:
    """A sensor: a function evaluated every `minimum_interval_s` that launches runs by run key."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        job: Any,
        minimum_interval_s: float = 30,
        default_status: str = RUNNING,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.fn = fn
        self.job_ref, self.job = job, _job_name(job)
        self.name = _checked_name(name or str(getattr(fn, "__name__", "sensor")), "sensor")
        self.minimum_interval_s = minimum_interval_s
        self.default_status = default_status
        self.description = description if description is not None else first_paragraph(getattr(fn, "__doc__", None))
        self._takes_context, self.error = _arity(fn, f"sensor {self.name!r}")
        if self.error:
            return
        if not (isinstance(minimum_interval_s, int | float) and minimum_interval_s >= 1):
            self.error = f"minimum_interval_s must be at least 1 (got {minimum_interval_s!r})"
        elif default_status not in (RUNNING, STOPPED):
            self.error = f"default_status must be {RUNNING} or {STOPPED}"

    def to_dict(self) -> dict[str, Any]:
        """The sensor as the code server reports it in the location's definitions."""
        return {
            "name": self.name,
            "job": self.job,
            "minimum_interval_s": self.minimum_interval_s,
            "default_status": self.default_status,
            "description": self.description,
            "error": self.error,
        }

    def evaluate(self, cursor: str | None, last_tick_time: datetime | None) -> dict[str, Any]:
        """One evaluation: {"run_requests": [...], "cursor": ..., "skip_reason": ...} or {"error": ...}."""
        try:
            context = SensorContext(self.name, cursor, last_tick_time)
            decided = self.fn(context) if self._takes_context else self.fn()
        except Exception as exc:
            return failure(exc)
        if decided is None:
            decided = SensorResult(cursor=cursor)
        elif isinstance(decided, SkipReason):
            decided = SensorResult(cursor=cursor, skip_reason=decided.reason or "the sensor skipped this tick")
        elif isinstance(decided, RunRequest):
            decided = SensorResult([decided], cursor=cursor)
        elif isinstance(decided, list) and all(isinstance(r, RunRequest) for r in decided):
            decided = SensorResult(decided, cursor=cursor)
        if not isinstance(decided, SensorResult):
            return {"error": f"sensor {self.name} returned {type(decided).__name__}: expected a SensorResult, "
                    "a RunRequest or a list of them, a SkipReason or None"}  # fmt: skip
        if len(decided.run_requests) > MAX_RUN_REQUESTS:
            return {"error": f"sensor {self.name} asked for {len(decided.run_requests)} runs in one tick "
                    f"(at most {MAX_RUN_REQUESTS})"}  # fmt: skip
        if decided.cursor is not None and (not isinstance(decided.cursor, str) or len(decided.cursor) > MAX_CURSOR):
            return {"error": f"sensor {self.name}: the cursor must be a string of at most {MAX_CURSOR} characters"}
        missing = [i for i, r in enumerate(decided.run_requests) if not r.run_key]
        if missing:
            return {"error": f"sensor {self.name}: every RunRequest needs a run_key (run request {missing[0]})"}
        return {
            "run_requests": [r.to_dict() for r in decided.run_requests],
            "cursor": decided.cursor,
            "skip_reason": decided.skip_reason,
        }


def schedule(*, job: Any, **options: Any) -> Callable[[Callable[..., Any]], Schedule]:
    """Declare a schedule on a function deciding each tick: `@schedule(job=my_job, cron="0 * * * *")`.

    The function receives a ScheduleContext (or nothing) and returns a config dict, a RunRequest, a SkipReason
    or None (the schedule's own config). A schedule without a function: `Schedule(job=my_job, every_s=60)`.
    Options: cron= or every_s=, timezone=, config=, tags=, default_status=, name=, description=, overlap=
    ("allow", "skip", "buffer_one"), catchup= ("latest", "all", "none").
    """

    def decorate(fn: Callable[..., Any]) -> Schedule:
        return Schedule(fn, job=job, **options)

    return decorate


def sensor(*, job: Any, **options: Any) -> Callable[[Callable[..., Any]], Sensor]:
    """Declare a sensor: `@sensor(job=my_job, minimum_interval_s=30)` on a function receiving a SensorContext.

    It returns RunRequests (each with a run_key: one run per key, ever), a SensorResult (runs and a new
    cursor), a SkipReason or None. Options: minimum_interval_s=, default_status=, name=, description=.
    """

    def decorate(fn: Callable[..., Any]) -> Sensor:
        return Sensor(fn, job=job, **options)

    return decorate
