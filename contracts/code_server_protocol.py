"""The code-server protocol: how a launcher starts a code server and what the agent asks it.

Standard library only, like contracts/run_protocol.py: the SDK's code server imports it inside user images.
"""

from __future__ import annotations

from enum import IntEnum
from urllib.parse import quote

HEALTH_PATH = "/health"  # 200 {"status": "ok"} once the code is loaded
DEFINITIONS_PATH = "/definitions"  # contracts.locations.Definitions as JSON
PORT_VAR = "LONGSHOREMAN_PORT"  # the port the server listens on, also in its environment
# POST {"scheduled_time": ISO} -> {"run_requests": [{"config", "tags"}]} | {"skip_reason"} | {"error", "traceback"}
SCHEDULE_TICK_PATH = "/schedules/{name}/tick"
# POST {"cursor", "last_tick_time"} -> {"run_requests": [{"config", "tags", "run_key"}], "cursor", "skip_reason"}
SENSOR_TICK_PATH = "/sensors/{name}/tick"
# POST {"config", "assets": [key] | null, "partition": str | null} -> {"valid": bool, "errors": [message]}: the job's
# own framework checks a launch's config (Dagster's messages); jobs whose definitions say `validates_config` are
# worth this round trip at launch (the control plane's JSON-schema check cannot express all they check).
VALIDATE_CONFIG_PATH = "/jobs/{name}/validate"
# The shortest interval between two ticks of a schedule (`every_s`; a cron expression's finest step is a minute):
# the SDK refuses shorter ones, and the agent knows that a tick less late than this can have missed none.
MIN_TICK_INTERVAL_S = 1.0


def schedule_tick_path(name: str) -> str:
    """Where the code server evaluates one tick of schedule `name`."""
    return SCHEDULE_TICK_PATH.format(name=name)


def sensor_tick_path(name: str) -> str:
    """Where the code server evaluates one tick of sensor `name`."""
    return SENSOR_TICK_PATH.format(name=name)


def validate_config_path(job: str) -> str:
    """Where the code server checks a run config for job `job`."""
    return VALIDATE_CONFIG_PATH.format(name=quote(job, safe=""))


class ServerExitCode(IntEnum):
    """Exit codes of `longshoreman code-server`."""

    STOPPED = 0  # after SIGTERM or SIGINT
    LOAD_FAILED = 2  # the module (or its Definitions) cannot be loaded
    BIND_FAILED = 3  # the address cannot be bound


def code_server_command(
    python: str,
    module: str | None,
    port: int,
    host: str,
    command: list[str] | None = None,
    framework: str = "longshoreman",
    python_file: str | None = None,
) -> list[str]:
    """The code server's command line: the SDK's server, or the location's own `command` with its
    `{module}`, `{python_file}`, `{port}`, `{host}` and `{framework}` placeholders filled in (a placeholder
    the location does not set becomes "")."""
    target = ["--python-file", "{python_file}"] if python_file is not None else ["--module", "{module}"]
    default = [python, "-m", "longshoreman", "code-server", *target, "--port", "{port}"]
    default += ["--host", "{host}"]
    if framework != "longshoreman":
        default += ["--framework", "{framework}"]
    values = {
        "module": module or "",
        "python_file": python_file or "",
        "port": str(port),
        "host": host,
        "framework": framework,
    }
    return [part.format(**values) for part in (command or default)]
