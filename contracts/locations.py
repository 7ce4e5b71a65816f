"""Code-location specs and the definitions a code server exposes."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.docker import DockerOptions
from contracts.kubernetes import KubernetesOptions
from contracts.statuses import LocationStatus

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
MODULE_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
# The env travels in every Temporal payload about the location and its runs, and into process environments.
MAX_ENV_BYTES = 32 * 1024
# A code server's definitions (bytes of JSON) ride in the location workflow's state and reports: with the spec
# they stay under Temporal's 256 KB payload warning (its hard limit is 2 MB).
MAX_DEFINITIONS_BYTES = 192 * 1024
LauncherKind = Literal["process", "docker", "kubernetes"]
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
    module: str = Field(
        min_length=1,
        description="Python module (importable in the image or the agent's environment) holding a Definitions object.",
        # Documented in the schema; enforced by the validator below, which says what is wrong in words.
        json_schema_extra={"pattern": MODULE_PATTERN},
    )
    image: str | None = Field(default=None, description="Container image; required by docker and kubernetes.")
    command: list[str] | None = Field(
        default=None, description="Overrides the code-server command; defaults to the SDK's code server."
    )
    working_dir: str | None = Field(default=None, description="Directory processes start in (process launcher).")
    env: dict[str, str] = Field(default_factory=dict)
    port: int = Field(default=4000, ge=1, le=65535, description="Port the code server listens on in its container.")
    health_path: str = Field(default="/health", json_schema_extra={"pattern": "^/"})
    startup_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    resources: Resources = Field(default_factory=Resources)
    image_pull_policy: PullPolicy = "if-not-present"
    docker: DockerOptions = Field(default_factory=DockerOptions)
    kubernetes: KubernetesOptions = Field(default_factory=KubernetesOptions)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    agent_queue: str = Field(
        default="longshoreman", min_length=1, description="Task queue of the agent that serves it."
    )

    @field_validator("module")
    @classmethod
    def _module_is_dotted(cls, value: str) -> str:
        if not re.fullmatch(MODULE_PATTERN, value):
            raise ValueError("module must be a dotted Python module path such as 'examples.hello.definitions'")
        return value

    @field_validator("env")
    @classmethod
    def _env_fits(cls, value: dict[str, str]) -> dict[str, str]:
        size = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in value.items())
        if size > MAX_ENV_BYTES:
            raise ValueError(f"env is {size} bytes; the limit is {MAX_ENV_BYTES} bytes (use a file or a secret)")
        return value

    @field_validator("health_path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("health_path must start with '/'")
        return value


class JobDefinition(BaseModel):
    """One job a code location offers."""

    name: str
    description: str = ""
    config_schema: dict[str, Any] = Field(default_factory=dict, description="JSON schema of the run config.")


class Definitions(BaseModel):
    """Everything a code server reports about its code."""

    jobs: list[JobDefinition] = Field(default_factory=list)

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
    server: str | None = Field(default=None, description="Name of the serving code-server instance.")
    workflow_id: str = ""
    spec: LocationSpec | None = Field(
        default=None, description="The spec the serving generation runs (a failed or late redeploy leaves it)."
    )
