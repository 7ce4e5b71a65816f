"""The agent's settings for the ecs launcher (env LONGSHOREMAN_ECS__<FIELD>, or `ecs:` in the YAML file).

Kept free of boto3 so the agent's settings load without it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from contracts.ecs import ROLE_ARN

ServerAccess = Literal["private-ip", "cloud-map"]
# ECS service names allow letters, digits, hyphens and underscores: the agent name prefixes them.
AGENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"


class EcsLauncherSettings(BaseModel):
    """Which account, region and cluster, the network defaults, how servers are reached, and supervision."""

    # ---- the API ----
    region: str | None = Field(default=None, description="AWS region; default: the AWS SDK's (AWS_REGION, profile).")
    endpoint_url: str | None = Field(
        default=None, description="Talk to this endpoint instead of AWS (an emulator, a VPC endpoint)."
    )
    api_timeout_s: float = Field(default=30.0, gt=0, description="Read timeout of one API call.")
    api_concurrency: int = Field(default=16, ge=1, description="API calls in flight at once (a thread each).")
    max_retries: int = Field(default=5, ge=0, description="botocore's own retries of throttled or failed calls.")

    # ---- identity ----
    agent_name: str | None = Field(
        default=None,
        pattern=AGENT_NAME,
        description="Tag and name prefix of everything this agent creates; default: the agent's name. Replicas "
        "of one agent share it (a retry on another replica finds the task).",
    )
    cluster: str = Field(default="default", min_length=1, description="Cluster name or ARN.")

    # ---- what gets created (a location's `ecs:` block overrides) ----
    launch_type: Literal["FARGATE", "EC2", "EXTERNAL"] = "FARGATE"
    capacity_provider: str | None = Field(default=None, description="Use this capacity provider, not a launch type.")
    subnets: list[str] = Field(default_factory=list, description="awsvpc subnets of servers and run workers.")
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = Field(default=False, description="Fargate in a public subnet without NAT needs it.")
    task_role_arn: str | None = Field(default=None, pattern=ROLE_ARN, description="The role user code runs as.")
    execution_role_arn: str | None = Field(
        default=None,
        pattern=ROLE_ARN,
        description="The role ECS uses to pull images, read the run's secret and write logs (required on Fargate).",
    )
    log_group: str | None = Field(
        default=None, description="CloudWatch Logs group of the containers' output (awslogs driver); unset: none."
    )
    default_cpu: int = Field(default=256, ge=128, description="Task CPU units when a location sets no cpu.")
    default_memory_mib: int = Field(default=512, ge=128, description="Task memory when a location sets no memory.")
    stop_timeout_s: int = Field(
        default=30, ge=2, le=120, description="SIGTERM → SIGKILL of a stopped container (ECS's stopTimeout)."
    )
    python: str = Field(default="python", description="Python in the user's image (for the default commands).")

    # ---- reachability ----
    control_plane_url: str | None = Field(
        default=None, description="Control-plane URL as run tasks reach it; default: the agent's."
    )
    server_access: ServerAccess = Field(
        default="private-ip",
        description="How the agent reaches a code server: its task's private IP (the agent in the same VPC), or "
        "a Cloud Map name (`<service>.<cloud_map_namespace>`, registered by ECS).",
    )
    cloud_map_namespace_id: str | None = Field(default=None, description="Cloud Map namespace id (ns-...).")
    cloud_map_namespace: str | None = Field(default=None, description="Its DNS name, e.g. longshoreman.local.")

    # ---- supervision ----
    poll_interval_s: float = Field(
        default=5.0, gt=0, description="One DescribeTasks per 100 live tasks this often, for all runs together."
    )
    resync_interval_s: float = Field(
        default=60.0, gt=0, description="ListTasks of this agent's families this often (adoption, orphans)."
    )
    missing_grace_s: float = Field(
        default=30.0, gt=0, description="A task ECS does not describe for this long is lost (eventual consistency)."
    )
    worker_start_timeout_s: float = Field(
        default=600.0, gt=0, description="A run task still PROVISIONING/PENDING this long after launch has failed."
    )
    tombstone_ttl_s: float = Field(default=7 * 86400, gt=0, description="How long a stopped attempt stays refused.")
    sync_timeout_s: float = Field(default=30.0, gt=0, description="Wait this long for the first listing at start.")

    @model_validator(mode="after")
    def _log_group_needs_a_region(self) -> EcsLauncherSettings:
        if self.log_group and not self.region:
            raise ValueError("LONGSHOREMAN_ECS__LOG_GROUP needs LONGSHOREMAN_ECS__REGION (the awslogs driver's region)")
        return self

    @model_validator(mode="after")
    def _cloud_map_needs_a_namespace(self) -> EcsLauncherSettings:
        if self.server_access == "cloud-map" and not (self.cloud_map_namespace_id and self.cloud_map_namespace):
            raise ValueError(
                "server_access 'cloud-map' needs LONGSHOREMAN_ECS__CLOUD_MAP_NAMESPACE_ID and "
                "LONGSHOREMAN_ECS__CLOUD_MAP_NAMESPACE (the namespace's id and DNS name)"
            )
        return self

    def resolved(self, agent_name: str, control_plane_url: str) -> EcsLauncherSettings:
        """These settings with the agent-wide defaults filled in."""
        name = self.agent_name or _safe_name(agent_name)
        return self.model_copy(
            update={"agent_name": name, "control_plane_url": self.control_plane_url or control_plane_url}
        )


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-_")[:40]
    return cleaned or "agent"
