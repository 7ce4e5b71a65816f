"""The settings base of every long-running process (agent, control plane): env vars, a YAML file, payload keys.

Each process has one settings model (agent/settings.py, controlplane/settings.py) deriving from
`ProcessSettings`: environment variables `LONGSHOREMAN_*` (nested fields as `LONGSHOREMAN_DOCKER__NETWORK`),
then the optional YAML file named by `LONGSHOREMAN_CONFIG_FILE` (environment variables win over it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from runtime.codec import KeyRing, load_keyring
from runtime.temporal_connection import TemporalConnection

ENV_PREFIX = "LONGSHOREMAN_"
CONFIG_FILE_ENV = "LONGSHOREMAN_CONFIG_FILE"


def settings_error(err: BaseException) -> str:
    """One readable line for a settings error: the first problem of a validation error, with where it is."""
    if isinstance(err, ValidationError) and err.errors():
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return f"{where}: {str(first['msg']).removeprefix('Value error, ')}{more}"
    return " ".join(str(err).split())


class ProcessSettings(BaseSettings):
    """What the agent and the control plane both read: Temporal (LONGSHOREMAN_TEMPORAL__ADDRESS, __NAMESPACE,
    __API_KEY, __TLS__SERVER_CA_FILE, ...: runtime/temporal_connection.py), payload encryption, logging."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_nested_delimiter="__")

    temporal: TemporalConnection = Field(default_factory=TemporalConnection)
    # The first release's names of temporal.address and temporal.namespace, still read (the new ones win).
    temporal_address: str | None = Field(default=None, exclude=True)
    temporal_namespace: str | None = Field(default=None, exclude=True)
    # Payload encryption (runtime/codec.py): `ID:BASE64[,ID:BASE64...]` inline or in a file; the first encrypts.
    encryption_keys: SecretStr | None = None
    encryption_key_file: Path | None = None
    plaintext_payloads: bool = Field(default=False, description="Explicitly allow running without encryption.")
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="after")
    def _older_names(self) -> ProcessSettings:
        updates = {
            key: value
            for key, value in (("address", self.temporal_address), ("namespace", self.temporal_namespace))
            if value and getattr(self.temporal, key) is None
        }
        if updates:
            self.temporal = self.temporal.model_copy(update=updates)
        return self

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
        """Constructor arguments, then the environment, then the YAML file named by LONGSHOREMAN_CONFIG_FILE."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            path = Path(config_file)
            # pydantic-settings silently skips a missing file; a typo in the path must not go unnoticed.
            if not path.is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_ENV} points to {path}, which is not a file")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)
