"""Configuration of the control-plane process (environment `LONGSHOREMAN_*`, optional YAML file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contracts.codec import KeyRing, load_keyring
from contracts.settings_files import sources_with_yaml_file

ENV_PREFIX = "LONGSHOREMAN_"


class ControlPlaneSettings(BaseSettings):
    """Everything the control plane reads from its environment; env vars win over the YAML file."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = Field(
        default="sqlite:///.longshoreman/controlplane.db",
        description="Any SQLAlchemy URL; SQLite files get their directory created.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    admin_token: SecretStr | None = Field(
        default=None, description="Bootstrap admin token; if unset and none exists, one is generated and printed once."
    )
    temporal_update_timeout_s: float = Field(
        default=15.0, gt=0, description="How long a redeploy waits for the location workflow to accept the update."
    )
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest request body under /api/; larger ones get 413."
    )
    run_token_grace_s: float = Field(
        default=3600.0, ge=0, description="A run's tokens expire this long after the run reached its final status."
    )
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    # Payload encryption (contracts/codec.py): `ID:BASE64[,ID:BASE64...]` inline or in a file; the first encrypts.
    encryption_keys: SecretStr | None = None
    encryption_key_file: Path | None = None
    plaintext_payloads: bool = Field(default=False, description="Explicitly allow running without encryption.")
    codec_cors_origins: list[str] | None = Field(
        default=None,
        description="Origins allowed to call /codec/* from a browser (the Temporal UI); default: TEMPORAL_UI_URL's.",
    )

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
        """Constructor arguments, then environment, then the YAML file named by LONGSHOREMAN_CONFIG_FILE."""
        return sources_with_yaml_file(settings_cls, init_settings, env_settings)
