"""The agent's settings for the docker launcher (env LONGSHOREMAN_DOCKER__<FIELD>, or `docker:` in the YAML file).

Kept free of the docker SDK so the agent's settings load without it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator

ServerAccess = Literal["published-port", "container-name"]
AGENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class DockerLauncherSettings(BaseModel):
    """Which engine, which network, how servers and the control plane are reached, and housekeeping."""

    # ---- the engine ----
    docker_host: str | None = Field(
        default=None, description="Engine URL, e.g. unix:///var/run/docker.sock; default: DOCKER_HOST or the socket."
    )
    api_timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one engine API call.")

    # ---- identity ----
    agent_name: str | None = Field(
        default=None,
        pattern=AGENT_NAME,
        description=(
            "Label and name prefix of every container this agent creates; default: the agent's name. "
            "Replicas of one agent on one engine must share it (a retry on another replica finds the container)."
        ),
    )

    # ---- networking ----
    network: str = Field(
        default="bridge",
        description="Network of code servers and run workers: 'bridge', 'host' or a named network (a location "
        "may choose another with docker.network).",
    )
    server_access: ServerAccess = Field(
        default="published-port",
        description="How the agent reaches a code server: 'published-port' (its port published on publish_host, "
        "for an agent on the host) or 'container-name' (http://<container>:<port>, for an agent on the same "
        "named network, e.g. in docker compose).",
    )
    publish_host: str = Field(default="127.0.0.1", description="Host address published server ports bind to.")
    control_plane_url: str | None = Field(
        default=None,
        description="Control-plane URL as seen from inside a container; default: the agent's own. From the default "
        "bridge use http://host.docker.internal:<port> (the control plane must listen on the bridge gateway or "
        "0.0.0.0); on a shared network use the control plane's container name.",
    )
    host_gateway_alias: str | None = Field(
        default="host.docker.internal",
        description="Host name that resolves to the engine host inside every container (empty: none).",
    )

    # ---- containers ----
    init: bool = Field(default=True, description="Run docker-init as PID 1: reaps zombies, forwards signals.")
    python: str = Field(default="python", description="Python in the user's image (for the default commands).")

    # ---- supervision and housekeeping ----
    start_probe_interval_s: float = Field(
        default=0.1, gt=0, description="How often a started run container is checked for its job having started."
    )
    resync_interval_s: float = Field(
        default=30.0, gt=0, description="Full re-list of containers behind the event stream (a safety net)."
    )
    retention_s: float = Field(
        default=3600.0, ge=0, description="Finished run containers (and their logs) are removed after this long."
    )
    cleanup_interval_s: float = Field(default=60.0, gt=0, description="How often finished and orphaned are swept.")
    orphan_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="A container younger than this is never an orphan (its workflow may not be visible yet).",
    )

    @model_validator(mode="after")
    def _access_needs_a_named_network(self) -> DockerLauncherSettings:
        if self.server_access == "container-name" and self.network in ("bridge", "host", "none"):
            raise ValueError(
                "server_access 'container-name' needs a named network shared with the agent "
                f"(LONGSHOREMAN_DOCKER__NETWORK), not '{self.network}'"
            )
        return self

    def resolved(self, agent_name: str, control_plane_url: str) -> DockerLauncherSettings:
        """These settings with the agent-wide defaults filled in."""
        name = self.agent_name or _safe_name(agent_name)
        return self.model_copy(
            update={"agent_name": name, "control_plane_url": self.control_plane_url or control_plane_url}
        )


def _safe_name(name: str) -> str:
    """A host name made fit for container names and label values."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip("-._")[:63]
    return cleaned or "agent"
