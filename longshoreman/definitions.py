"""What users write: the `@job` decorator, the `JobContext` a job receives, and `Definitions`.

Standard library only: this module is imported inside user images, where start-up latency matters.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

# Lifecycle events are posted by the executor only, so the event stream of a run stays trustworthy.
from contracts.config_schema import schema_errors
from contracts.run_protocol import POOL_PATTERN, RESERVED_EVENT_TYPES
from longshoreman.automations import Schedule, Sensor
from longshoreman.callables import first_paragraph, takes_context

MAX_JOB_NAME = 200
MAX_EVENT_TYPE = 64
MAX_EVENT_MESSAGE = 64_000

EventSink = Callable[[str, str], None]


class LoadError(Exception):
    """A module, its Definitions object or a job could not be loaded; the message is one readable line."""

    def __init__(self, message: str, module: str = "", hidden: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.module = module
        self.hidden = hidden  # files of the loader (e.g. Dagster's) whose frames the user's traceback leaves out

    def user_traceback(self) -> str:
        """The traceback of the error the user's code raised while importing, or "" if there is none to show."""
        cause = self.__cause__
        if cause is None:
            return ""
        missing = cause.name if isinstance(cause, ModuleNotFoundError) else None
        if missing and (self.module == missing or self.module.startswith(missing + ".")):
            return ""  # the module itself is missing: the one-line message says it all
        import traceback

        # Only the user's frames: the loader's and importlib's own are noise to the reader.
        loader_files = (__file__, os.path.dirname(importlib.__file__ or ""), *self.hidden)
        frames = [
            frame
            for frame in traceback.extract_tb(cause.__traceback__)
            if not frame.filename.startswith(loader_files) and not frame.filename.startswith("<frozen ")
        ]
        lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
        lines.extend(traceback.format_exception_only(type(cause), cause))
        return "".join(lines)


class JobContext:
    """What a running job knows about its run (id, attempt, config, tags) and how it reports events."""

    def __init__(
        self,
        *,
        run_id: str = "local",
        attempt: int = 1,
        job_name: str = "",
        config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        event_sink: EventSink | None = None,
    ) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.job_name = job_name
        self.config: dict[str, Any] = dict(config or {})
        self.tags: dict[str, str] = dict(tags or {})
        self._event_sink = event_sink

    def log_event(self, type: str, message: str = "") -> None:
        """Record a structured event of this run (type: up to 64 characters, e.g. "ROWS_LOADED")."""
        if not isinstance(type, str) or not type or len(type) > MAX_EVENT_TYPE:
            raise ValueError(f"event type must be a non-empty string of at most {MAX_EVENT_TYPE} characters")
        if type in RESERVED_EVENT_TYPES:
            raise ValueError(f"event type {type!r} is reserved for Longshoreman itself")
        message = str(message)[:MAX_EVENT_MESSAGE]
        if self._event_sink is None:
            # Outside a run (a job called directly, e.g. in a unit test) events go to stderr.
            print(f"[event {type}] {message}", file=sys.stderr)
        else:
            self._event_sink(type, message)

    def __repr__(self) -> str:
        return f"JobContext(run_id={self.run_id!r}, attempt={self.attempt}, job_name={self.job_name!r})"


class Job:
    """A function registered with `@job`; calling it still calls the function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        config_schema: Mapping[str, Any] | None = None,
        pool: str | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@job needs a function, got {fn!r}")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", "")
        if not isinstance(self.name, str) or not self.name or len(self.name) > MAX_JOB_NAME:
            raise ValueError(f"job name must be a non-empty string of at most {MAX_JOB_NAME} characters")
        self.description = description if description is not None else first_paragraph(fn.__doc__)
        self.config_schema: dict[str, Any] = dict(config_schema or {})
        try:
            json.dumps(self.config_schema)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"config_schema of job {self.name!r} is not JSON: {exc}") from None
        if pool is not None and (not isinstance(pool, str) or not re.fullmatch(POOL_PATTERN, pool)):
            raise ValueError(
                f"pool of job {self.name!r} must be 1 to 100 letters, digits and . _ - (a letter or digit first)"
            )
        self.pool = pool
        self.takes_context = takes_context(fn, f"job {self.name!r}")
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def run(self, context: JobContext) -> Any:
        """Call the function, passing `context` only if it takes an argument."""
        return self.fn(context) if self.takes_context else self.fn()

    def resolve_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with the top-level defaults of the config schema filled in."""
        resolved = dict(config)
        properties = self.config_schema.get("properties")
        if isinstance(properties, dict):
            for key, prop in properties.items():
                if key not in resolved and isinstance(prop, dict) and "default" in prop:
                    resolved[key] = prop["default"]
        return resolved

    def to_dict(self) -> dict[str, Any]:
        """The job as contracts.locations.JobDefinition JSON."""
        return {
            "name": self.name,
            "description": self.description,
            "config_schema": self.config_schema,
            "pool": self.pool,
        }

    def __repr__(self) -> str:
        return f"Job(name={self.name!r})"


@overload
def job(fn: Callable[..., Any], /) -> Job: ...


@overload
def job(
    *,
    name: str | None = None,
    description: str | None = None,
    config_schema: Mapping[str, Any] | None = None,
    pool: str | None = None,
) -> Callable[[Callable[..., Any]], Job]: ...


def job(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    config_schema: Mapping[str, Any] | None = None,
    pool: str | None = None,
) -> Job | Callable[[Callable[..., Any]], Job]:
    """Declare a job: `@job` or `@job(name=..., description=..., config_schema={...}, pool="warehouse")`.

    The function takes no argument or one `context: JobContext`. The description defaults to the first
    paragraph of its docstring. `pool` puts its runs in a named pool: a limit on `pool:NAME` caps how many of
    them run at once (`longshoreman limit set pool:warehouse 3`).
    """
    if fn is not None:
        return Job(fn, name=name, description=description, config_schema=config_schema, pool=pool)

    def decorate(inner: Callable[..., Any]) -> Job:
        return Job(inner, name=name, description=description, config_schema=config_schema, pool=pool)

    return decorate


class Definitions:
    """Everything a code location offers (jobs, schedules, sensors); a module exposes exactly one."""

    def __init__(
        self,
        jobs: Iterable[Job | Callable[..., Any]] = (),
        schedules: Iterable[Schedule] = (),
        sensors: Iterable[Sensor] = (),
    ) -> None:
        self._jobs: dict[str, Job] = {}
        for item in jobs:
            self._add_job(item if isinstance(item, Job) else Job(item))
        self._automations: dict[str, Schedule | Sensor] = {}
        for kind, items, cls in (("schedules", schedules, Schedule), ("sensors", sensors, Sensor)):
            for automation in items:
                if not isinstance(automation, cls):
                    made_by = "@schedule or Schedule(job=..., cron=...)" if cls is Schedule else "@sensor"
                    raise TypeError(f"{kind}= takes objects made by {made_by}, got {automation!r}")
                if automation.name in self._automations:
                    raise ValueError(f"two schedules or sensors are named {automation.name!r}: names must be unique")
                self._automations[automation.name] = automation
                # A job given as the object itself belongs to the location even if `jobs=` forgot it.
                if isinstance(automation.job_ref, Job) and automation.job not in self._jobs:
                    self._add_job(automation.job_ref)

    def _add_job(self, registered: Job) -> None:
        if registered.name in self._jobs:
            raise ValueError(f"two jobs are named {registered.name!r}: job names must be unique")
        self._jobs[registered.name] = registered

    @property
    def jobs(self) -> list[Job]:
        """The jobs, in declaration order."""
        return list(self._jobs.values())

    @property
    def schedules(self) -> list[Schedule]:
        """The schedules, in declaration order."""
        return [a for a in self._automations.values() if isinstance(a, Schedule)]

    @property
    def sensors(self) -> list[Sensor]:
        """The sensors, in declaration order."""
        return [a for a in self._automations.values() if isinstance(a, Sensor)]

    def job(self, name: str) -> Job | None:
        """The job called `name`, or None."""
        return self._jobs.get(name)

    def check_config(
        self, name: str, config: dict[str, Any], assets: list[str] | None = None, partition: str | None = None
    ) -> list[str] | None:
        """Why `config` is not valid for job `name` ([] if it is), or None if there is no such job."""
        found = self._jobs.get(name)
        if found is None:
            return None
        return schema_errors(found.name, found.config_schema, config)

    def schedule(self, name: str) -> Schedule | None:
        """The schedule called `name`, or None."""
        found = self._automations.get(name)
        return found if isinstance(found, Schedule) else None

    def sensor(self, name: str) -> Sensor | None:
        """The sensor called `name`, or None."""
        found = self._automations.get(name)
        return found if isinstance(found, Sensor) else None

    def _automation_dict(self, automation: Schedule | Sensor) -> dict[str, Any]:
        described = automation.to_dict()
        if not described["error"] and automation.job not in self._jobs:
            # Not a load failure: the location serves its jobs, and the automation shows why it cannot tick.
            available = ", ".join(self._jobs) or "none"
            described["error"] = f"job {automation.job!r} is not in this location's Definitions (jobs: {available})"
        return described

    def to_dict(self) -> dict[str, Any]:
        """The definitions as contracts.locations.Definitions JSON."""
        return {
            "jobs": [j.to_dict() for j in self._jobs.values()],
            "schedules": [self._automation_dict(s) for s in self.schedules],
            "sensors": [self._automation_dict(s) for s in self.sensors],
        }

    def __repr__(self) -> str:
        return f"Definitions(jobs={list(self._jobs)!r}, automations={list(self._automations)!r})"


def load_definitions(module_name: str, python_file: str | None = None) -> Definitions:
    """Import `module_name` (or the file `python_file`) and return its one Definitions object (LoadError otherwise)."""
    # Like `python -m`, resolve modules from the working directory even under the console script.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    what = f"file {python_file!r}" if python_file is not None else f"module {module_name!r}"
    try:
        module = _import_file(python_file) if python_file is not None else importlib.import_module(module_name)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"could not import {what}: {type(exc).__name__}: {exc}", module_name) from exc
    found: dict[int, list[str]] = {}
    objects: dict[int, Definitions] = {}
    for attr, value in vars(module).items():
        if isinstance(value, Definitions):
            found.setdefault(id(value), []).append(attr)
            objects[id(value)] = value
    if not objects:
        raise LoadError(f"{what} has no Definitions object: add e.g. `defs = Definitions(jobs=[my_job])`")
    if len(objects) > 1:
        names = ", ".join(sorted(names[0] for names in found.values()))
        raise LoadError(f"{what} has several Definitions objects ({names}): keep exactly one")
    return next(iter(objects.values()))


def _import_file(python_file: str) -> Any:
    """Import a .py file as the module named after it (as `dagster dev -f` and Dagster's file loader do)."""
    import importlib.util

    path = os.path.abspath(python_file)
    if not os.path.isfile(path):
        raise LoadError(f"python file {python_file!r} not found (looked for {path})")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"python file {python_file!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its own functions (and pickles of them) find the module again
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_job(module_name: str, job_name: str, python_file: str | None = None) -> Job:
    """The job called `job_name` of the Definitions in `module_name` or `python_file` (LoadError otherwise)."""
    definitions = load_definitions(module_name, python_file)
    found = definitions.job(job_name)
    if found is None:
        available = ", ".join(j.name for j in definitions.jobs) or "none"
        what = f"file {python_file!r}" if python_file is not None else f"module {module_name!r}"
        raise LoadError(f"job {job_name!r} not found in {what} (available: {available})")
    return found
