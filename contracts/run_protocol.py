"""The run protocol: the rules about one run that the agent, the run worker and the control plane share.

Standard library only: the SDK imports this module inside user images, where nothing else may be installed
(tests/longshoreman/test_light_imports.py). It holds, once:

- `RunStatus` and its transition table (`RunStatus.may_become`): every writer of a run's status asks it.
- `RunWorkerEnv`: the run worker's environment (`LONGSHOREMAN_RUN_*`). Every launcher builds it with
  `to_env()`; the run executor reads it with `from_env()`.
- `EventType`: the lifecycle events only the executor posts (a job's own events take any other name).
- `ExitCode` and `classify_exit()`: what a run worker's exit means, and whether a new attempt may fix it.
"""

from __future__ import annotations

import json
import signal as signals
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from contracts.log_store_protocol import LogStore

ENV_PREFIX = "LONGSHOREMAN_"


# ---- run status -------------------------------------------------------------------------------------


class RunStatus(StrEnum):
    """Where a run is in its lifecycle."""

    QUEUED = "QUEUED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change."""
        return self in TERMINAL_RUN_STATUSES

    def may_become(self, new: RunStatus) -> bool:
        """True if a run in this status may move to `new` (the one transition table every writer uses).

        A status may repeat itself where an attempt changes (STARTING for attempt 2) or a report repeats;
        whether a repeat or a new attempt is newer is the writer's business (report seq, attempt number).
        """
        return new in _TRANSITIONS[self]


TERMINAL_RUN_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED})
_FINAL = frozenset(TERMINAL_RUN_STATUSES)
_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # A queued run may end without ever starting: canceled, timed out in the queue, its workflow closed.
    RunStatus.QUEUED: frozenset({RunStatus.STARTING, RunStatus.CANCELING}) | _FINAL,
    # STARTING again: the next attempt after an infrastructure failure.
    RunStatus.STARTING: frozenset({RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING}) | _FINAL,
    RunStatus.STARTED: frozenset({RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING}) | _FINAL,
    # Once canceling, only the end: CANCELED, or the job's own outcome when it finished before the stop.
    RunStatus.CANCELING: _FINAL,
    RunStatus.SUCCESS: frozenset(),
    RunStatus.FAILURE: frozenset(),
    RunStatus.CANCELED: frozenset(),
}


# ---- the run queue: priority and pools ------------------------------------------------------------------

# Tags under this prefix are Longshoreman's own (automations set some); users may set only PRIORITY_TAG.
RESERVED_TAG_PREFIX = "longshoreman/"
# A run's place in the run queue: an integer, higher first, default 0; FIFO within one priority.
PRIORITY_TAG = RESERVED_TAG_PREFIX + "priority"
PRIORITY_RANGE = (-(2**31), 2**31 - 1)


def set_by_longshoreman_only(tag: str) -> bool:
    """Whether `tag` is one Longshoreman sets itself (users and sensors may not): reserved, but not the priority."""
    return tag.startswith(RESERVED_TAG_PREFIX) and tag != PRIORITY_TAG


# A pool a job declares in code (`@job(pool="warehouse")`); a limit per pool caps its concurrent runs.
POOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


def priority_of(tags: Mapping[str, str]) -> int:
    """The run's priority from its tags (0 without the tag); ValueError, one readable line, if it is no integer."""
    raw = tags.get(PRIORITY_TAG)
    if raw is None:
        return 0
    text = raw.strip()
    if not text.lstrip("+-").isdigit() or not text.isascii():
        raise ValueError(f"tag {PRIORITY_TAG!r} must be an integer (higher runs first, default 0)")
    value = int(text)
    low, high = PRIORITY_RANGE
    if not low <= value <= high:
        raise ValueError(f"tag {PRIORITY_TAG!r} must be between {low} and {high}")
    return value


# ---- lifecycle events ---------------------------------------------------------------------------------


class EventType(StrEnum):
    """Events the run executor posts about a run's lifecycle; a job may not post these names itself."""

    RUN_START = "RUN_START"  # the worker is up; the job is about to be loaded (the control plane's started_at)
    JOB_START = "JOB_START"
    JOB_SUCCESS = "JOB_SUCCESS"
    JOB_FAILURE = "JOB_FAILURE"
    JOB_CANCELED = "JOB_CANCELED"
    LOAD_FAILURE = "LOAD_FAILURE"
    LOGS_DROPPED = "LOGS_DROPPED"
    EVENTS_DROPPED = "EVENTS_DROPPED"


RESERVED_EVENT_TYPES = frozenset(event.value for event in EventType)

# Dagster locations: the tags that carry a launch's asset selection (a JSON list of asset keys as user strings)
# and partition to the run worker. The partition tag is Dagster's own, which Dagster's execution reads itself.
ASSETS_TAG = "longshoreman.dagster/assets"
PARTITION_TAG = "dagster/partition"


# ---- exit codes --------------------------------------------------------------------------------------


class ExitCode(IntEnum):
    """Exit codes of `longshoreman execute-run` (and what the shell says when it cannot run it at all)."""

    SUCCESS = 0
    JOB_FAILED = 1  # the job raised: the user's code, never retried
    LOAD_FAILED = 2  # its module or job could not be loaded, or the environment is invalid: never retried
    COMMAND_NOT_FOUND = 127  # the image has no `python` (or no SDK): the infrastructure's, retried


# 128 + N: ended by signal N. The executor exits so when a cancel's SIGTERM (or SIGINT) stops the job.
SIGNAL_EXIT_BASE = 128


def canceled_exit_code(signum: int) -> int:
    """The exit code of a run worker that a signal stopped (143 for SIGTERM)."""
    return SIGNAL_EXIT_BASE + signum


@dataclass(frozen=True)
class ExitVerdict:
    """What a run worker's exit means."""

    succeeded: bool
    reason: str  # empty on success
    infrastructure: bool  # not the user's code: a new attempt may succeed
    by_itself: bool  # it exited on its own (success or the job's failure), not stopped by a signal


def describe_exit(exit_code: int | None, signal: int | None, oom_killed: bool = False, detail: str = "") -> str:
    """How a process ended, in words: 'exited with code 2', 'was killed by signal SIGKILL', ..."""
    if oom_killed:
        return "was killed: out of memory (OOMKilled)"
    if signal is not None:
        try:
            name = signals.Signals(signal).name
        except ValueError:
            name = str(signal)
        return f"was killed by signal {name}"
    if exit_code is not None:
        return f"exited with code {exit_code}"
    return f"vanished ({detail or 'no exit status'})"


def classify_exit(
    exit_code: int | None,
    signal: int | None = None,
    *,
    oom_killed: bool = False,
    final: bool = False,
    message: str = "",
) -> ExitVerdict:
    """The one reading of a run worker's exit: success, the job's failure, or an infrastructure failure.

    `final`: the backend says no new attempt can help (an image that cannot be pulled). `message`: the
    executor's termination message or the launcher's own detail.
    """
    by_itself = signal is None and not oom_killed and exit_code is not None and exit_code < SIGNAL_EXIT_BASE
    if exit_code == ExitCode.SUCCESS and by_itself:
        return ExitVerdict(succeeded=True, reason="", infrastructure=False, by_itself=True)
    detail = f": {message}" if message else ""
    if signal is not None or oom_killed:
        reason = f"run worker {describe_exit(exit_code, signal, oom_killed)}{detail}"
        return ExitVerdict(False, reason, infrastructure=not final, by_itself=False)
    if exit_code == ExitCode.JOB_FAILED:
        reason = f"job failed: {message or 'see the run logs'} (exit code 1)"
        return ExitVerdict(False, reason, infrastructure=False, by_itself=True)
    if exit_code == ExitCode.LOAD_FAILED:
        reason = f"could not load the job: {message or 'see the run logs'} (exit code 2)"
        return ExitVerdict(False, reason, infrastructure=False, by_itself=True)
    reason = f"run worker {describe_exit(exit_code, signal, detail=message)}{detail if exit_code is not None else ''}"
    return ExitVerdict(False, reason, infrastructure=exit_code == ExitCode.COMMAND_NOT_FOUND, by_itself=by_itself)


# ---- the run worker's environment --------------------------------------------------------------------


class RunEnvError(Exception):
    """The environment does not describe a run; the message is one readable line."""


# The variable that carries the run's token: a launcher may pass it by reference (a Kubernetes Secret).
TOKEN_VAR = ENV_PREFIX + "RUN_TOKEN"
DEFAULT_FLUSH_TIMEOUT_S = 300.0
DEFAULT_FRAMEWORK = "longshoreman"
FRAMEWORKS = ("longshoreman", "dagster")  # as contracts.locations.Framework


@dataclass
class RunWorkerEnv:
    """Everything a run worker learns about its run, as `LONGSHOREMAN_*` environment variables."""

    run_id: str
    module: str
    job: str
    attempt: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    control_plane_url: str | None = None
    token: str | None = field(default=None, repr=False)  # never in a log line
    started_file: str | None = None  # the executor creates it once the job runs (how launchers see STARTED)
    termination_file: str | None = None  # the executor writes its one-line failure summary here
    log_store: str | None = None  # compute logs also (or only) go here: contracts/log_store_protocol.py
    forward_logs: bool = True  # False: no log line, traceback or message text is sent to the control plane
    # Long enough to outlast a control-plane outage (restart, upgrade): the run's events are delivered late
    # rather than lost; its final status waits for them.
    flush_timeout_s: float = DEFAULT_FLUSH_TIMEOUT_S
    framework: str = DEFAULT_FRAMEWORK  # "dagster": the job is a Dagster job, run by longshoreman/dagster/
    python_file: str | None = None  # instead of module (then ""): the file holding the Definitions

    def to_env(self) -> dict[str, str]:
        """The variables, ready for a process, container or pod (the token only when set here)."""
        env = {
            ENV_PREFIX + "RUN_ID": self.run_id,
            ENV_PREFIX + "RUN_ATTEMPT": str(self.attempt),
            ENV_PREFIX + "RUN_JOB": self.job,
            ENV_PREFIX + "RUN_CONFIG": json.dumps(self.config),
            ENV_PREFIX + "RUN_TAGS": json.dumps(self.tags),
        }
        optional = {
            "RUN_MODULE": self.module,
            "RUN_PYTHON_FILE": self.python_file,
            "CONTROL_PLANE_URL": self.control_plane_url,
            "RUN_TOKEN": self.token,
            "STARTED_FILE": self.started_file,
            "TERMINATION_FILE": self.termination_file,
            "RUN_LOG_STORE": self.log_store,
        }
        env.update({ENV_PREFIX + name: value for name, value in optional.items() if value})
        if not self.forward_logs:
            env[ENV_PREFIX + "RUN_FORWARD_LOGS"] = "false"
        if self.flush_timeout_s != DEFAULT_FLUSH_TIMEOUT_S:
            env[ENV_PREFIX + "RUN_FLUSH_TIMEOUT_S"] = str(self.flush_timeout_s)
        if self.framework != DEFAULT_FRAMEWORK:
            env[ENV_PREFIX + "RUN_FRAMEWORK"] = self.framework
        return env

    @classmethod
    def names(cls) -> frozenset[str]:
        """Every variable this protocol sets: a location's own env may not override them."""
        every = RunWorkerEnv(
            "x", "x", "x", control_plane_url="x", token="x", started_file="x", termination_file="x", log_store="x"
        )
        optional = ("RUN_FLUSH_TIMEOUT_S", "RUN_FORWARD_LOGS", "RUN_FRAMEWORK", "RUN_PYTHON_FILE")
        return frozenset(every.to_env()) | {ENV_PREFIX + name for name in optional}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunWorkerEnv:
        """Read the variables back (RunEnvError, one readable line, if they do not describe a run)."""

        def get(name: str) -> str | None:
            value = environ.get(ENV_PREFIX + name, "").strip()
            return value or None

        def required(name: str) -> str:
            value = get(name)
            if value is None:
                raise RunEnvError(f"{ENV_PREFIX}{name} is not set")
            return value

        url, token = get("CONTROL_PLANE_URL"), get("RUN_TOKEN")
        if (url is None) != (token is None):
            missing = "RUN_TOKEN" if token is None else "CONTROL_PLANE_URL"
            raise RunEnvError(f"{ENV_PREFIX}{missing} is not set (the control-plane URL and run token go together)")
        if url is not None and not url.startswith(("http://", "https://")):
            raise RunEnvError(f"{ENV_PREFIX}CONTROL_PLANE_URL must start with http:// or https://")
        log_store = get("RUN_LOG_STORE")
        if log_store is not None:
            try:
                LogStore.parse(log_store)
            except ValueError as exc:
                raise RunEnvError(f"{ENV_PREFIX}RUN_LOG_STORE: {exc}") from None
        forward = (get("RUN_FORWARD_LOGS") or "true").lower()
        if forward not in ("true", "false"):
            raise RunEnvError(f"{ENV_PREFIX}RUN_FORWARD_LOGS must be true or false, got {forward!r}")
        if forward == "false" and log_store is None and url is not None:
            raise RunEnvError(
                f"{ENV_PREFIX}RUN_FORWARD_LOGS=false needs {ENV_PREFIX}RUN_LOG_STORE (a place for the logs)"
            )
        framework = get("RUN_FRAMEWORK") or DEFAULT_FRAMEWORK
        if framework not in FRAMEWORKS:
            raise RunEnvError(f"{ENV_PREFIX}RUN_FRAMEWORK must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
        module, python_file = get("RUN_MODULE"), get("RUN_PYTHON_FILE")
        if module is not None and python_file is not None:
            raise RunEnvError(f"{ENV_PREFIX}RUN_MODULE and {ENV_PREFIX}RUN_PYTHON_FILE are both set: set one")
        if python_file is None:
            module = required("RUN_MODULE")
        tags = _json_object("RUN_TAGS", get("RUN_TAGS"))
        if not all(isinstance(v, str) for v in tags.values()):
            raise RunEnvError(f"{ENV_PREFIX}RUN_TAGS values must be strings")
        return cls(
            run_id=required("RUN_ID"),
            module=module or "",
            job=required("RUN_JOB"),
            attempt=_number("RUN_ATTEMPT", get("RUN_ATTEMPT") or "1", int, minimum=1),
            config=_json_object("RUN_CONFIG", get("RUN_CONFIG")),
            tags=tags,
            control_plane_url=url.rstrip("/") if url else None,
            token=token,
            started_file=get("STARTED_FILE"),
            termination_file=get("TERMINATION_FILE"),
            log_store=log_store,
            forward_logs=forward == "true",
            flush_timeout_s=_number(
                "RUN_FLUSH_TIMEOUT_S", get("RUN_FLUSH_TIMEOUT_S") or str(DEFAULT_FLUSH_TIMEOUT_S), float, minimum=0
            ),
            framework=framework,
            python_file=python_file,
        )


# A standby run worker (started before its run) of a Dagster location imports dagster and runs a no-op Dagster
# job while it waits: a run then skips ~1.5 s of set-up. Not the location's own module: a standby may wait
# through a redeploy, and the run must import the code as it is then.
PRELOAD_VAR = ENV_PREFIX + "STANDBY_PRELOAD"


def standby_preload(framework: str) -> dict[str, str]:
    """The variable that tells a standby run worker what to prepare while it waits (nothing for our SDK)."""
    return {} if framework == DEFAULT_FRAMEWORK else {PRELOAD_VAR: framework}


def run_worker_command(python: str) -> list[str]:
    """The command that runs one attempt in a run worker (its run comes from the environment)."""
    return [python, "-m", "longshoreman", "execute-run"]


def _json_object(name: str, raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise RunEnvError(f"{ENV_PREFIX}{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RunEnvError(f"{ENV_PREFIX}{name} must be a JSON object")
    return value


def _number(name: str, raw: str, kind: type[int] | type[float], *, minimum: float) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        raise RunEnvError(f"{ENV_PREFIX}{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise RunEnvError(f"{ENV_PREFIX}{name} must be at least {minimum}")
    return value
