"""The agent's compute-log setting (LONGSHOREMAN_COMPUTE_LOGS__*): where run workers keep their logs, and
whether their lines and failure output are forwarded to the control plane."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from contracts.compute_logs import ComputeLogs, StoreKind
from contracts.log_store_protocol import LogStore


class ComputeLogSettings(BaseModel):
    """One store for every run of this agent; the run workers write with their own credentials."""

    store: StoreKind = Field(default="control-plane", description="control-plane, local, s3 or azure-blob.")
    forward: bool = Field(
        default=True,
        description="Also send log lines, log tails and failure messages to the control plane. false: no log text "
        "leaves your environment (needs a store other than the control plane).",
    )
    directory: Path | None = Field(default=None, description="local: the directory (as run workers see it).")
    bucket: str | None = Field(default=None, description="s3: the bucket.")
    container: str | None = Field(default=None, description="azure-blob: the container.")
    prefix: str = Field(default="", description="Key prefix below the bucket, container or directory.")
    region: str | None = Field(default=None, description="s3: the bucket's region.")
    endpoint_url: str | None = Field(default=None, description="s3: another endpoint (MinIO, an emulator).")
    account_url: str | None = Field(
        default=None, description="azure-blob: https://<account>.blob.core.windows.net (or an emulator's URL)."
    )

    @model_validator(mode="after")
    def _store_is_complete(self) -> ComputeLogSettings:
        needs = {"local": "directory", "s3": "bucket", "azure-blob": "container"}
        field = needs.get(self.store)
        if field is not None and not getattr(self, field):
            raise ValueError(f"compute_logs.store '{self.store}' needs LONGSHOREMAN_COMPUTE_LOGS__{field.upper()}")
        if self.store == "azure-blob" and not self.account_url:
            raise ValueError("compute_logs.store 'azure-blob' needs LONGSHOREMAN_COMPUTE_LOGS__ACCOUNT_URL")
        if self.store == "local" and self.directory is not None and not self.directory.is_absolute():
            raise ValueError("LONGSHOREMAN_COMPUTE_LOGS__DIRECTORY must be an absolute path")
        if self.store == "control-plane" and not self.forward:
            raise ValueError(
                "LONGSHOREMAN_COMPUTE_LOGS__FORWARD=false keeps logs away from the control plane: choose a store "
                "for them (LONGSHOREMAN_COMPUTE_LOGS__STORE=local, s3 or azure-blob)"
            )
        return self

    def destination(self) -> ComputeLogs:
        """What run workers are told and the control plane stores: the store's URL, never a credential."""
        prefix = self.prefix.strip("/")
        match self.store:
            case "control-plane":
                return ComputeLogs(store="control-plane")
            case "local":
                where = LogStore("local", str(Path(str(self.directory)) / prefix) if prefix else str(self.directory))
            case "s3":
                where = LogStore("s3", str(self.bucket), prefix, self.endpoint_url, self.region)
            case _:
                where = LogStore("azure-blob", str(self.container), prefix, self.account_url)
        return ComputeLogs(store=self.store, url=where.url(), forwarded=self.forward)
