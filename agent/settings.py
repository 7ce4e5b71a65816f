"""The agent's settings: environment variables LONGSHOREMAN_* and an optional YAML file."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from activities.compute_logs import ComputeLogSettings
from activities.launchers.docker.settings import DockerLauncherSettings
from activities.launchers.ecs.settings import EcsLauncherSettings
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings
from agent.versioning import workflow_build_id
from contracts.locations import LauncherKind
from runtime.settings import ProcessSettings


def _process_only() -> list[LauncherKind]:
    return ["process"]


class AgentSettings(ProcessSettings):
    """Everything one agent process needs; nothing else reads the environment."""

    task_queue: str = "longshoreman"
    control_plane_url: str = "http://127.0.0.1:8000"
    agent_token: SecretStr = SecretStr("")
    state_dir: Path = Path(".longshoreman/agent")
    launchers: list[LauncherKind] = Field(default_factory=_process_only, min_length=1)
    agent_name: str = Field(default_factory=socket.gethostname)
    max_concurrent_activities: int = Field(default=2000, ge=1)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    # ~0.1 MB per cached workflow; a supervised run's workflow sits idle for the whole run, so an evicted one only
    # costs a short replay (≤ 40 events) when its worker ends. 500 keeps 1,000 concurrent runs well under 300 MB.
    max_cached_workflows: int = Field(default=500, ge=0)
    graceful_shutdown_s: float = Field(default=5.0, ge=0)
    sticky_timeout_s: float = Field(
        default=1.0,
        gt=0,
        description="Sticky queue schedule-to-start timeout: how long a dead agent's workflows wait for it before "
        "a replica takes their next task (a slow live agent merely loses its cache for that workflow).",
    )
    poll_interval_s: float = Field(default=0.1, gt=0, description="How often a run worker's state is checked.")
    standby_workers: bool = Field(
        default=True, description="Process launcher: keep one run worker per location started ahead of its run."
    )
    heartbeat_interval_s: float = Field(
        default=5.0, gt=0, description="How often the agent tells the control plane it is alive and what it runs."
    )
    orphan_sweep_interval_s: float = Field(
        default=5.0, gt=0, description="How often code servers and run workers whose workflow is gone are stopped."
    )
    orphan_grace_s: float = Field(
        default=10.0, ge=0, description="Nothing younger than this is an orphan (its workflow may not show yet)."
    )
    versioning: Literal["off", "auto"] = Field(
        default="off",
        description="auto: a versioned worker (agent/versioning.py): runs stay on the version that started them, "
        "this agent's version becomes current at start, and it drains its pinned runs at shutdown.",
    )
    deployment_name: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,200}$", description="Worker deployment; default longshoreman-<queue>."
    )
    build_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._+-]{1,200}$", description="Default: version + hash of the workflow code."
    )
    drain_timeout_s: float = Field(
        default=0.0, ge=0, description="versioning auto: at shutdown, wait this long for pinned runs to finish."
    )
    kubernetes: KubernetesLauncherSettings = Field(default_factory=KubernetesLauncherSettings)
    docker: DockerLauncherSettings = Field(default_factory=DockerLauncherSettings)
    ecs: EcsLauncherSettings = Field(default_factory=EcsLauncherSettings)
    compute_logs: ComputeLogSettings = Field(default_factory=ComputeLogSettings)
    metrics_address: str | None = Field(
        default=None, description="host:port serving Prometheus /metrics (ours + the Temporal SDK's); unset: off."
    )

    def worker_deployment(self) -> tuple[str, str]:
        """(deployment name, build id) of this agent when versioning is on."""
        name = self.deployment_name or "longshoreman-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.task_queue)
        return name, self.build_id or workflow_build_id()
