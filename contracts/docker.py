"""Docker-specific options of a code location (used only by the docker launcher)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

RESERVED_LABEL_PREFIX = "longshoreman."
# Docker's short volume syntax: SOURCE:TARGET[:MODE], SOURCE a host path or a volume name, TARGET absolute.
VOLUME = re.compile(r"^(?P<source>[^:]+):(?P<target>/[^:]*)(:(?P<mode>ro|rw|z|Z|ro,z|ro,Z|rw,z|rw,Z))?$")


class DockerOptions(BaseModel):
    """How the docker launcher runs this location's containers (code servers and run workers alike)."""

    model_config = ConfigDict(extra="forbid")

    volumes: list[str] = Field(
        default_factory=list,
        description="Docker short syntax, 'SOURCE:TARGET[:ro]': a host path (as the engine sees it) or a volume name.",
    )
    network: str | None = Field(
        default=None, min_length=1, description="Network to join instead of the agent's ('host', or a named network)."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Added to every container; not longshoreman.*.")
    user: str | None = Field(default=None, min_length=1, description="USER[:GROUP] the containers run as.")
    shm_size: str | None = Field(
        default=None, pattern=r"^[0-9]+(k|m|g|K|M|G|Ki|Mi|Gi)?$", description="Size of /dev/shm, e.g. '256m'."
    )

    @field_validator("volumes")
    @classmethod
    def _volumes_parse(cls, volumes: list[str]) -> list[str]:
        for volume in volumes:
            if not VOLUME.match(volume):
                raise ValueError(f"volume '{volume}' is not SOURCE:TARGET[:ro|rw] with an absolute TARGET")
        return volumes

    @field_validator("labels")
    @classmethod
    def _labels_not_reserved(cls, labels: dict[str, str]) -> dict[str, str]:
        # The agent finds its containers by these labels: a user value would hijack or hide them.
        for key in labels:
            if key.startswith(RESERVED_LABEL_PREFIX):
                raise ValueError(f"label '{key}': the prefix {RESERVED_LABEL_PREFIX} is reserved for the agent")
        return labels
