"""What users write: the `@job` decorator, the `JobContext` a job receives, and `Definitions`.

Standard library only: this module is imported inside user images, where start-up latency matters.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

MAX_JOB_NAME = 200
MAX_EVENT_TYPE = 64
MAX_EVENT_MESSAGE = 64_000
# Lifecycle events are posted by the executor only, so the event stream of a run stays trustworthy.
RESERVED_EVENT_TYPES = frozenset(
    {"RUN_START", "JOB_START", "JOB_SUCCESS", "JOB_FAILURE", "JOB_CANCELED", "LOAD_FAILURE"}
    | {"LOGS_DROPPED", "EVENTS_DROPPED"}
)

EventSink = Callable[[str, str], None]


class LoadError(Exception):
    """A module, its Definitions object or a job could not be loaded; the message is one readable line."""

    def __init__(self, message: str, module: str = "") -> None:
        super().__init__(message)
        self.module = module

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
        loader_files = (__file__, os.path.dirname(importlib.__file__ or ""))
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
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@job needs a function, got {fn!r}")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", "")
        if not isinstance(self.name, str) or not self.name or len(self.name) > MAX_JOB_NAME:
            raise ValueError(f"job name must be a non-empty string of at most {MAX_JOB_NAME} characters")
        self.description = description if description is not None else _first_paragraph(fn.__doc__)
        self.config_schema: dict[str, Any] = dict(config_schema or {})
        try:
            json.dumps(self.config_schema)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"config_schema of job {self.name!r} is not JSON: {exc}") from None
        self.takes_context = _takes_context(fn, self.name)
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
        return {"name": self.name, "description": self.description, "config_schema": self.config_schema}

    def __repr__(self) -> str:
        return f"Job(name={self.name!r})"


@overload
def job(fn: Callable[..., Any], /) -> Job: ...


@overload
def job(
    *, name: str | None = None, description: str | None = None, config_schema: Mapping[str, Any] | None = None
) -> Callable[[Callable[..., Any]], Job]: ...


def job(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    config_schema: Mapping[str, Any] | None = None,
) -> Job | Callable[[Callable[..., Any]], Job]:
    """Declare a job: `@job` or `@job(name=..., description=..., config_schema={...})`.

    The function takes no argument or one `context: JobContext`. The description defaults to the first
    paragraph of its docstring.
    """
    if fn is not None:
        return Job(fn, name=name, description=description, config_schema=config_schema)

    def decorate(inner: Callable[..., Any]) -> Job:
        return Job(inner, name=name, description=description, config_schema=config_schema)

    return decorate


class Definitions:
    """Everything a code location offers; a module exposes exactly one."""

    def __init__(self, jobs: Iterable[Job | Callable[..., Any]] = ()) -> None:
        self._jobs: dict[str, Job] = {}
        for item in jobs:
            registered = item if isinstance(item, Job) else Job(item)
            if registered.name in self._jobs:
                raise ValueError(f"two jobs are named {registered.name!r}: job names must be unique")
            self._jobs[registered.name] = registered

    @property
    def jobs(self) -> list[Job]:
        """The jobs, in declaration order."""
        return list(self._jobs.values())

    def job(self, name: str) -> Job | None:
        """The job called `name`, or None."""
        return self._jobs.get(name)

    def to_dict(self) -> dict[str, Any]:
        """The definitions as contracts.locations.Definitions JSON."""
        return {"jobs": [j.to_dict() for j in self._jobs.values()]}

    def __repr__(self) -> str:
        return f"Definitions(jobs={list(self._jobs)!r})"


def load_definitions(module_name: str) -> Definitions:
    """Import `module_name` and return its one Definitions object (LoadError otherwise)."""
    # Like `python -m`, resolve modules from the working directory even under the console script.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise LoadError(f"could not import module {module_name!r}: {type(exc).__name__}: {exc}", module_name) from exc
    found: dict[int, list[str]] = {}
    objects: dict[int, Definitions] = {}
    for attr, value in vars(module).items():
        if isinstance(value, Definitions):
            found.setdefault(id(value), []).append(attr)
            objects[id(value)] = value
    if not objects:
        raise LoadError(
            f"module {module_name!r} has no Definitions object: add e.g. `defs = Definitions(jobs=[my_job])`"
        )
    if len(objects) > 1:
        names = ", ".join(sorted(names[0] for names in found.values()))
        raise LoadError(f"module {module_name!r} has several Definitions objects ({names}): keep exactly one")
    return next(iter(objects.values()))


def load_job(module_name: str, job_name: str) -> Job:
    """The job called `job_name` of the Definitions in `module_name` (LoadError otherwise)."""
    definitions = load_definitions(module_name)
    found = definitions.job(job_name)
    if found is None:
        available = ", ".join(j.name for j in definitions.jobs) or "none"
        raise LoadError(f"job {job_name!r} not found in module {module_name!r} (available: {available})")
    return found


def _first_paragraph(doc: str | None) -> str:
    lines: list[str] = []
    for line in (doc or "").strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


def _takes_context(fn: Callable[..., Any], name: str) -> bool:
    """Whether `fn` takes the context; TypeError if it needs more than that one argument."""
    code = getattr(fn, "__code__", None)
    if code is not None and not hasattr(fn, "__self__"):
        positional = code.co_argcount
        required = positional - len(getattr(fn, "__defaults__", None) or ())
        required_kwonly = code.co_kwonlyargcount - len(getattr(fn, "__kwdefaults__", None) or {})
        variadic = bool(code.co_flags & 0x04)  # CO_VARARGS
    else:
        import inspect  # only for callable objects and partials: inspect is slow to import

        params = list(inspect.signature(fn).parameters.values())
        positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        positional = sum(p.kind in positional_kinds for p in params)
        required = sum(p.kind in positional_kinds and p.default is p.empty for p in params)
        required_kwonly = sum(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty for p in params)
        variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    if required > 1 or required_kwonly:
        raise TypeError(f"job {name!r} must take no argument or one `context` argument")
    return positional >= 1 or variadic
