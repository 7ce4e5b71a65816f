"""Docker-specific options of a code location (used only by the docker launcher)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DockerOptions(BaseModel):
    """How the docker launcher runs this location's containers."""

    model_config = ConfigDict(extra="forbid")
