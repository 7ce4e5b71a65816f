"""The agent's settings: environment variables LONGSHOREMAN_* and an optional YAML file."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from activities.launchers.docker.settings import DockerLauncherSettings
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings
from contracts.codec import KeyRing, load_keyring
from contracts.locations import LauncherKind
from contracts.settings_files import sources_with_yaml_file


def _process_only() -> list[LauncherKind]:
    return ["process"]


class AgentSettings(BaseSettings):
    """Everything one agent process needs; nothing else reads the environment."""

    # Nested launcher settings come from e.g. LONGSHOREMAN_DOCKER__NETWORK.
    model_config = SettingsConfigDict(env_prefix="LONGSHOREMAN_", extra="ignore", env_nested_delimiter="__")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
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
    sticky_timeout_s: float = Field(default=2.0, gt=0, description="Sticky queue schedule-to-start timeout.")
    poll_interval_s: float = Field(default=0.1, gt=0, description="How often a run worker's state is checked.")
    standby_workers: bool = Field(
        default=True, description="Process launcher: keep one run worker per location started ahead of its run."
    )
    kubernetes: KubernetesLauncherSettings = Field(default_factory=KubernetesLauncherSettings)
    docker: DockerLauncherSettings = Field(default_factory=DockerLauncherSettings)
    # Payload encryption (contracts/codec.py): `ID:BASE64[,ID:BASE64...]` inline or in a file; the first encrypts.
    encryption_keys: SecretStr | None = None
    encryption_key_file: Path | None = None
    plaintext_payloads: bool = Field(default=False, description="Explicitly allow running without encryption.")
    metrics_address: str | None = Field(
        default=None, description="host:port serving Prometheus /metrics (ours + the Temporal SDK's); unset: off."
    )
    log_format: Literal["text", "json"] = "text"
    log_level: str = "info"

    def keyring(self) -> KeyRing | None:
        """The payload keys; raises KeyConfigError when none is configured and plaintext was not allowed."""
        inline = self.encryption_keys.get_secret_value() if self.encryption_keys else None
        return load_keyring(inline, self.encryption_key_file, self.plaintext_payloads)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init arguments win, then the environment, then the YAML file named by LONGSHOREMAN_CONFIG_FILE."""
        return sources_with_yaml_file(settings_cls, init_settings, env_settings)
