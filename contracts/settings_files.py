"""The optional YAML settings file every process accepts (LONGSHOREMAN_CONFIG_FILE); env vars win over it."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, YamlConfigSettingsSource

CONFIG_FILE_ENV = "LONGSHOREMAN_CONFIG_FILE"


def sources_with_yaml_file(
    settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource, env: PydanticBaseSettingsSource
) -> tuple[PydanticBaseSettingsSource, ...]:
    """Constructor arguments, then the environment, then the YAML file named by LONGSHOREMAN_CONFIG_FILE."""
    sources: list[PydanticBaseSettingsSource] = [init, env]
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file:
        path = Path(config_file)
        # pydantic-settings silently skips a missing file; a typo in the path must not go unnoticed.
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_FILE_ENV} points to {path}, which is not a file")
        sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
    return tuple(sources)
