"""Where the CLI finds the control plane and its token."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_CREDENTIALS_FILE = Path(".longshoreman") / "credentials.json"


class Credentials(BaseModel):
    """What `longshoreman dev` writes to `<state-dir>/credentials.json` (mode 0600)."""

    url: str
    token: SecretStr


class CliSettings(BaseSettings):
    """CLI configuration: LONGSHOREMAN_URL and LONGSHOREMAN_TOKEN, else the dev stack's credentials file."""

    model_config = SettingsConfigDict(env_prefix="LONGSHOREMAN_", extra="ignore")

    url: str | None = None
    token: SecretStr | None = None
    credentials_file: Path = DEFAULT_CREDENTIALS_FILE

    def credentials(self) -> Credentials | None:
        """The credentials file's content, or None when there is no readable file."""
        try:
            return Credentials.model_validate(json.loads(self.credentials_file.read_text()))
        except (OSError, ValueError):
            return None

    def resolved_url(self) -> str:
        """The control-plane URL: env var, then credentials file, then the default."""
        if self.url:
            return self.url.rstrip("/")
        creds = self.credentials()
        return (creds.url if creds else DEFAULT_URL).rstrip("/")

    def resolved_token(self) -> str | None:
        """The admin token: env var, then credentials file; None when neither exists."""
        if self.token is not None and self.token.get_secret_value():
            return self.token.get_secret_value()
        creds = self.credentials()
        return creds.token.get_secret_value() if creds else None
