"""Code-location specs and the definitions a code server exposes."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.automations import ScheduleDefinition, SensorDefinition
from contracts.docker import DockerOptions
from contracts.ecs import EcsOptions
from contracts.kubernetes import KubernetesOptions
from contracts.run_protocol import POOL_PATTERN
from contracts.statuses import LocationStatus

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
MODULE_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
# The env travels in every Temporal payload about the location and its runs, and into process environments.
MAX_ENV_BYTES = 32 * 1024
# A code server's definitions (bytes of JSON) ride in the location workflow's state and reports: with the spec
# they stay under Temporal's 256 KB payload warning (its hard limit is 2 MB).
MAX_DEFINITIONS_BYTES = 192 * 1024
# How the control plane's API shows a secret value (and, sent back, "keep the stored one").
SECRET_MASK = "***"
LauncherKind = Literal["process", "docker", "kubernetes", "ecs"]
# What the location's code is written against: our SDK, or an unmodified Dagster project (longshoreman/dagster/).
Framework = Literal["longshoreman", "dagster"]
PullPolicy = Literal["always", "if-not-present", "never"]


class Resources(BaseModel):
    """CPU and memory limits of a code server or run worker (ignored by the process launcher)."""

    model_config = ConfigDict(extra="forbid")

    cpu: float | None = Field(default=None, gt=0, description="CPUs, e.g. 0.5.")
    memory: str | None = Field(
        default=None, pattern=r"^[0-9]+(\.[0-9]+)?(k|m|g|Ki|Mi|Gi|K|M|G)?$", description="e.g. '512Mi' or '1g'."
    )


class SupervisionSettings(BaseModel):
    """How a location's code server is probed and restarted."""

    model_config = ConfigDict(extra="forbid")

    probe_interval_s: float = Field(default=1.0, gt=0)
    probe_timeout_s: float = Field(default=2.0, gt=0)
    failure_threshold: int = Field(
        default=3, ge=1, description="Consecutive failed probes that make a server unhealthy."
    )
    backoff_initial_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    stable_after_s: float = Field(default=60.0, ge=0, description="Healthy this long resets the crash-loop backoff.")
    stop_grace_s: float = Field(default=10.0, ge=0)
    max_history_events: int = Field(default=5000, ge=100, description="Continue-as-new beyond this history length.")


class LocationSpec(BaseModel):
    """What a user declares for one code location; the agent turns it into a running code server."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="DNS-safe name, also the workflow id suffix.")
    launcher: LauncherKind = "process"
    framework: Framework = Field(
        default="longshoreman",
        description="'dagster': the module or python_file holds a dagster.Definitions, served and run by Dagster "
        "(needs the dagster extra in the image).",
    )
    module: str | None = Field(
        default=None,
        min_length=1,
        description="Python module (importable in the image or the agent's environment) holding a Definitions object "
        "(like `dagster dev -m`).",
        # Documented in the schema; enforced by the validator below, which says what is wrong in words.
        json_schema_extra={"pattern": MODULE_PATTERN},
    )
    python_file: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Instead of module (like `dagster dev -f`): a Python file holding the Definitions object, "
        "imported as the module named after the file; a relative path is relative to the processes' working "
        "directory.",
    )
    image: str | None = Field(default=None, description="Container image; required by docker, kubernetes and ecs.")
    command: list[str] | None = Field(
        default=None, description="Overrides the code-server command; defaults to the SDK's code server."
    )
    working_dir: str | None = Field(default=None, description="Directory processes start in (process launcher).")
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(
        default_factory=dict,
        description="Like env, for secrets: stored encrypted by the control plane, never returned by its API "
        f"(shown as {SECRET_MASK!r}; send {SECRET_MASK!r} back to keep a stored value).",
    )
    port: int = Field(default=4000, ge=1, le=65535, description="Port the code server listens on in its container.")
    health_path: str = Field(default="/health", json_schema_extra={"pattern": "^/"})
    startup_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    resources: Resources = Field(default_factory=Resources)
    image_pull_policy: PullPolicy = "if-not-present"
    docker: DockerOptions = Field(default_factory=DockerOptions)
    kubernetes: KubernetesOptions = Field(default_factory=KubernetesOptions)
    ecs: EcsOptions = Field(default_factory=EcsOptions)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    agent_queue: str = Field(
        default="longshoreman", min_length=1, max_length=200, description="Task queue of the agent that serves it."
    )

    @field_validator("module")
    @classmethod
    def _module_is_dotted(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(MODULE_PATTERN, value):
            raise ValueError("module must be a dotted Python module path such as 'examples.hello.definitions'")
        return value

    @field_validator("python_file")
    @classmethod
    def _file_is_python(cls, value: str | None) -> str | None:
        if value is not None and (not value.endswith(".py") or "\0" in value):
            raise ValueError("python_file must be the path of a .py file such as 'src/project/definitions.py'")
        return value

    @model_validator(mode="after")
    def _one_code_target(self) -> LocationSpec:
        # Like `dagster dev`'s -m and -f: the code is named one way, never both.
        if self.module is not None and self.python_file is not None:
            raise ValueError("give either module or python_file, not both")
        if self.module is None and self.python_file is None:
            raise ValueError("module (or python_file) is required: the code holding the Definitions")
        return self

    def code_target(self) -> str:
        """The module, or the python_file, that holds the location's Definitions (as shown to people)."""
        return self.module or self.python_file or ""

    @model_validator(mode="after")
    def _env_fits(self) -> LocationSpec:
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ValueError(f"env and secret_env both set {', '.join(both)}: a variable belongs in one of them")
        size = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in self.process_env().items())
        if size > MAX_ENV_BYTES:
            raise ValueError(
                f"env and secret_env are {size} bytes; the limit is {MAX_ENV_BYTES} bytes (use a file or a secret)"
            )
        return self

    def process_env(self) -> dict[str, str]:
        """The variables the location's code servers and run workers get: env and secret_env together."""
        return self.env | self.secret_env

    @field_validator("health_path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("health_path must start with '/'")
        return value


def agent_queue_change(old: str, new: str) -> str:
    """Why a redeploy may not move a location to another agent queue (its workflow lives on the old one)."""
    return (
        f"agent_queue cannot change on a redeploy (from '{old}' to '{new}'): the location's workflow and code "
        "server belong to the old queue's agent; remove the location and add it again with the new queue"
    )


class JobDefinition(BaseModel):
    """One job a code location offers."""

    name: str
    description: str = ""
    config_schema: dict[str, Any] = Field(default_factory=dict, description="JSON schema of the run config.")
    pool: str | None = Field(
        default=None, pattern=POOL_PATTERN, description="The pool its runs count in (`@job(pool=...)`), if any."
    )
    assets: list[str] = Field(default_factory=list, description="Keys of the assets it materializes (Dagster).")
    partitioned: bool = Field(default=False, description="Its runs may name a partition (Dagster).")
    partition_keys: list[str] | None = Field(
        default=None, description="Its partitions when they are few and fixed; None: checked by the run worker."
    )
    validates_config: bool = Field(
        default=False,
        description="Its code server checks a run config beyond the JSON schema (Dagster's own validation): the "
        "control plane asks it at launch.",
    )


class AssetDefinition(BaseModel):
    """One asset a Dagster code location defines."""

    key: str = Field(description="The asset key as a user string, e.g. 'raw_orders' or 'sales/daily'.")
    group: str | None = None
    deps: list[str] = Field(default_factory=list)
    description: str = ""
    owners: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    partitioned: bool = False
    checks: list[str] = Field(default_factory=list, description="Names of the asset checks on it.")


class Definitions(BaseModel):
    """Everything a code server reports about its code."""

    framework: Framework = "longshoreman"
    jobs: list[JobDefinition] = Field(default_factory=list)
    assets: list[AssetDefinition] = Field(default_factory=list)
    asset_job: str | None = Field(
        default=None, description="The job that materializes any selection of the assets (Dagster's implicit one)."
    )
    schedules: list[ScheduleDefinition] = Field(default_factory=list)
    sensors: list[SensorDefinition] = Field(default_factory=list)

    def job(self, name: str) -> JobDefinition | None:
        """The job called `name`, or None."""
        return next((j for j in self.jobs if j.name == name), None)


class LocationReport(BaseModel):
    """What the agent tells the control plane about a location (idempotent by `seq`)."""

    name: str
    status: LocationStatus
    generation: int = Field(ge=0, le=2**31 - 1)
    seq: int = Field(ge=0, le=2**31 - 1, description="Monotonic per workflow run chain; older reports are ignored.")
    message: str = ""
    definitions: Definitions | None = None
    server: str | None = Field(default=None, max_length=200, description="Name of the serving code-server instance.")
    workflow_id: str = ""
    spec: LocationSpec | None = Field(
        default=None, description="The spec the serving generation runs (a failed or late redeploy leaves it)."
    )
