"""ECS-specific options of a code location (used only by the ecs launcher)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RESERVED_TAG_PREFIX = "longshoreman."
SECRET_ARN = r"^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:[0-9]{12}:.+$"
ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class EcsSecret(BaseModel):
    """An environment variable whose value ECS reads from AWS Secrets Manager or SSM Parameter Store."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ENV_NAME)
    value_from: str = Field(
        pattern=SECRET_ARN, description="Secret or parameter ARN (a Secrets Manager JSON key as ARN:KEY::)."
    )


class EcsOptions(BaseModel):
    """How the ecs launcher runs this location's service (code server) and tasks (run workers).

    Unset fields take the agent's defaults (LONGSHOREMAN_ECS__*).
    """

    model_config = ConfigDict(extra="forbid")

    cluster: str | None = Field(default=None, min_length=1, description="Cluster name or ARN; default: the agent's.")
    launch_type: Literal["FARGATE", "EC2", "EXTERNAL"] | None = None
    capacity_provider: str | None = Field(
        default=None, min_length=1, description="One capacity provider (e.g. FARGATE_SPOT) instead of a launch type."
    )
    subnets: list[str] | None = Field(default=None, description="awsvpc subnets; default: the agent's.")
    security_groups: list[str] | None = None
    assign_public_ip: bool | None = None
    task_role_arn: str | None = Field(default=None, pattern=ROLE_ARN, description="The role your code runs as.")
    execution_role_arn: str | None = Field(
        default=None, pattern=ROLE_ARN, description="The role ECS pulls the image, reads secrets and writes logs as."
    )
    secrets: list[EcsSecret] = Field(
        default_factory=list, description="Variables from Secrets Manager or SSM ARNs (read by the execution role)."
    )
    platform_version: str | None = Field(default=None, min_length=1)
    tags: dict[str, str] = Field(
        default_factory=dict, description="Added to every service and task (not longshoreman.*)."
    )

    @field_validator("tags")
    @classmethod
    def _tags_not_reserved(cls, tags: dict[str, str]) -> dict[str, str]:
        # The agent finds its tasks by these tags: a user value would hijack or hide them.
        for key in tags:
            if key.startswith(RESERVED_TAG_PREFIX):
                raise ValueError(f"tag '{key}': the prefix {RESERVED_TAG_PREFIX} is reserved for the agent")
        return tags
