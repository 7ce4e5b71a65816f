"""Dagster schedules and sensors as our automations, each tick evaluated by Dagster's own machinery.

A Dagster schedule becomes our schedule (its cron and time zone; our Temporal Schedule decides when it ticks)
and a Dagster sensor our sensor (its minimum interval; our sensor workflow keeps its cursor). Each tick comes to
the code server, which evaluates it with `evaluate_tick` on a Dagster evaluation context, exactly as Dagster's
daemon would, and answers in the code-server protocol's wire form (contracts/code_server_protocol.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from contracts.run_protocol import ASSETS_TAG, PARTITION_TAG
from longshoreman.automations import failure

MAX_CURSOR = 64_000


class _Instance:
    """One ephemeral Dagster instance per code server, made on the first tick (sensors may read it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instance: dg.DagsterInstance | None = None

    def get(self) -> dg.DagsterInstance:
        with self._lock:
            if self._instance is None:
                self._instance = dg.DagsterInstance.ephemeral()
            return self._instance


def _status(value: Any) -> str:
    return "RUNNING" if getattr(value, "value", value) == "RUNNING" else "STOPPED"


def run_request_wire(request: dg.RunRequest, job: str, run_key: str | None) -> dict[str, Any] | str:
    """A Dagster RunRequest in the wire form {"config", "tags", "run_key"}, or why it cannot be launched."""
    if request.job_name and request.job_name != job:
        return f"a run request targets job {request.job_name!r}; this automation launches {job!r}"
    tags = {str(k): str(v) for k, v in (request.tags or {}).items()}
    if request.partition_key is not None:
        tags[PARTITION_TAG] = request.partition_key
    if request.asset_selection is not None:
        tags[ASSETS_TAG] = json.dumps(sorted(key.to_user_string() for key in request.asset_selection))
    config = request.run_config
    return {"config": dict(config) if isinstance(config, Mapping) else {}, "tags": tags, "run_key": run_key}


class DagsterSchedule:
    """A Dagster schedule as our schedule: described once, each tick evaluated by the schedule's own function."""

    def __init__(self, definitions: dg.Definitions, schedule: dg.ScheduleDefinition, instance: _Instance) -> None:
        self._definitions = definitions
        self._schedule = schedule
        self._instance = instance
        self.name = schedule.name
        self.job = ""
        self.error = ""
        try:
            self.job = schedule.job_name
        except Exception as exc:  # a schedule without a single job target
            self.error = f"schedule {self.name!r} has no single job to launch: {exc}"
        cron = schedule.cron_schedule
        self.cron = cron if isinstance(cron, str) else None
        if not isinstance(cron, str):
            self.error = self.error or f"schedule {self.name!r} has several cron schedules: one is supported"
        self.timezone = schedule.execution_timezone or "UTC"

    def to_dict(self) -> dict[str, Any]:
        """The schedule as contracts.automations.ScheduleDefinition JSON."""
        return {
            "name": self.name,
            "job": self.job,
            "cron": self.cron,
            "every_s": None,
            "timezone": self.timezone,
            "config": {},
            "tags": {str(k): str(v) for k, v in (self._schedule.tags or {}).items()},
            "default_status": _status(self._schedule.default_status),
            "description": self._schedule.description or "",
            # Dagster's daemon lets runs overlap and catches up with the latest missed tick only.
            "overlap": "allow",
            "catchup": "latest",
            "decides_ticks": True,
            "error": self.error,
        }

    def evaluate(self, scheduled_time: datetime) -> dict[str, Any]:
        """One tick: {"run_requests": [...]} or {"skip_reason": ...}, or {"error", "traceback"} if it raised."""
        when = scheduled_time.astimezone(ZoneInfo(self.timezone))
        try:
            context = dg.build_schedule_context(
                instance=self._instance.get(),
                scheduled_execution_time=when,
                repository_def=self._definitions.get_repository_def(),
            )
            with context:
                data = self._schedule.evaluate_tick(context)
        except Exception as exc:
            return failure(_user_error(exc))
        requests = list(data.run_requests or [])
        if not requests:
            return {"skip_reason": data.skip_message or "the schedule function skipped this tick"}
        wire = [run_request_wire(request, self.job, None) for request in requests]
        problems = [w for w in wire if isinstance(w, str)]
        if problems:
            return {"error": f"schedule {self.name}: {problems[0]}"}
        return {"run_requests": wire}


class DagsterSensor:
    """A Dagster sensor as our sensor: each tick evaluated by Dagster with the cursor our workflow keeps."""

    def __init__(self, definitions: dg.Definitions, sensor: dg.SensorDefinition, instance: _Instance) -> None:
        self._definitions = definitions
        self._sensor = sensor
        self._instance = instance
        self.name = sensor.name
        self.job = ""
        self.error = ""
        try:
            self.job = sensor.job_name or ""
        except Exception as exc:
            self.error = f"sensor {self.name!r} has no single job to launch: {exc}"
        if not self.job and not self.error:
            self.error = f"sensor {self.name!r} targets no job (run-status and asset-only sensors are not supported)"

    def to_dict(self) -> dict[str, Any]:
        """The sensor as contracts.automations.SensorDefinition JSON."""
        return {
            "name": self.name,
            "job": self.job,
            "minimum_interval_s": float(max(1, self._sensor.minimum_interval_seconds or 30)),
            "default_status": _status(self._sensor.default_status),
            "description": self._sensor.description or "",
            "error": self.error,
        }

    def evaluate(self, cursor: str | None, last_tick_time: datetime | None) -> dict[str, Any]:
        """One tick: {"run_requests", "cursor", "skip_reason"} or {"error", "traceback"} if it raised."""
        try:
            context = dg.build_sensor_context(
                instance=self._instance.get(),
                cursor=cursor,
                sensor_name=self.name,
                repository_def=self._definitions.get_repository_def(),
                last_sensor_start_time=last_tick_time.timestamp() if last_tick_time else None,
            )
            with context:
                data = self._sensor.evaluate_tick(context)
        except Exception as exc:
            return failure(_user_error(exc))
        new_cursor = data.cursor if data.cursor is not None else cursor
        if new_cursor is not None and len(new_cursor) > MAX_CURSOR:
            return {"error": f"sensor {self.name}: the cursor must be at most {MAX_CURSOR} characters"}
        wire: list[dict[str, Any]] = []
        for index, request in enumerate(data.run_requests or []):
            # Dagster launches a request without a run key every time; ours are idempotent by key, so one is
            # made from this tick (its cursor and time): a retried tick gives the same runs, a new tick new ones.
            run_key = request.run_key or _tick_key(cursor, last_tick_time, index)
            described = run_request_wire(request, self.job, run_key)
            if isinstance(described, str):
                return {"error": f"sensor {self.name}: {described}"}
            wire.append(described)
        skip = data.skip_message if not wire else None
        return {"run_requests": wire, "cursor": new_cursor, "skip_reason": skip}


def _tick_key(cursor: str | None, last_tick_time: datetime | None, index: int) -> str:
    seed = json.dumps([cursor, last_tick_time.isoformat() if last_tick_time else None, index])
    return "tick-" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def _user_error(exc: BaseException) -> BaseException:
    """The user's own exception when Dagster wrapped it (DagsterUserCodeExecutionError...)."""
    original = getattr(exc, "user_exception", None)
    return original if isinstance(original, BaseException) else exc
