"""A launch's config checked by the job's own framework in its code server (ValidateConfigWorkflow's input and
result)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ConfigCheckRequest(BaseModel):
    """Which job of which location, and the config (with its asset selection and partition) to check."""

    location: str
    job: str
    config: dict[str, Any] = Field(default_factory=dict)
    assets: list[str] | None = None
    partition: str | None = None

    def body(self) -> dict[str, Any]:
        """The code server's request body (contracts/code_server_protocol.py VALIDATE_CONFIG_PATH)."""
        return {"config": self.config, "assets": self.assets, "partition": self.partition}


class ConfigCheck(BaseModel):
    """The code server's verdict, or why it could not give one (`valid` None: the launch goes on unchecked)."""

    valid: bool | None = None
    errors: list[str] = Field(default_factory=list, description="The framework's own messages, when not valid.")
    unchecked: str = Field(default="", description="Why no code server checked it (not LOADED, no answer...).")
