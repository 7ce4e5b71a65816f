"""Where a run's compute logs are kept, as the agent tells the control plane and the API shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from contracts.log_store_protocol import LogStore

StoreKind = Literal["control-plane", "local", "s3", "azure-blob"]


class ComputeLogs(BaseModel):
    """A run's log store: the store's URL (no credentials), and whether its lines also reach the control plane."""

    store: StoreKind
    url: str | None = Field(
        default=None, max_length=2000, description="The store's URL (contracts/log_store_protocol.py)."
    )
    forwarded: bool = Field(default=True, description="Log lines (and failure output) also go to the control plane.")

    @field_validator("url")
    @classmethod
    def _url_parses(cls, url: str | None) -> str | None:
        if url is not None:
            LogStore.parse(url)
        return url

    def where(self, run_id: str) -> str:
        """Where one run's logs are, for people."""
        if self.url is None:
            return "the control plane"
        return LogStore.parse(self.url).describe(run_id)
