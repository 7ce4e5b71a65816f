"""Run requests, events, logs and the reports the agent sends about runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.kubernetes import KubernetesRunOverrides
from contracts.locations import NAME_PATTERN
from contracts.run_protocol import RunStatus, priority_of


class RunRetryPolicy(BaseModel):
    """Retries of infrastructure failures (worker lost or killed, launch failed); user-code failures never retry."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=1, ge=1, le=10)
    backoff_s: float = Field(default=2.0, ge=0, le=600)


# Size limits (bytes of compact JSON). The run config travels in Temporal payloads (kept under Temporal's
# 256 KB warning) and reaches the run worker in one environment variable (Linux caps one at 128 KiB).
MAX_CONFIG_BYTES = 64 * 1024
# Sequence numbers, attempts and generations are stored as 32-bit integers (PostgreSQL's INTEGER).
MAX_INT32 = 2**31 - 1
MAX_TAGS_BYTES = 8 * 1024


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON (what the size limits count)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def check_size(what: str, value: Any, limit: int) -> Any:
    """`value` unchanged, or ValueError naming its size and the limit."""
    size = json_size(value)
    if size > limit:
        raise ValueError(f"{what} is {size} bytes as JSON; the limit is {limit} bytes")
    return value


class RunRequest(BaseModel):
    """A user's request to run one job of one code location."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(pattern=NAME_PATTERN)
    job: str = Field(
        default="", max_length=200, description="Required unless `assets` is given (then: the location's asset job)."
    )
    config: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    assets: list[str] | None = Field(
        default=None, min_length=1, max_length=1000, description="Dagster: materialize only these asset keys."
    )
    partition: str | None = Field(
        default=None, min_length=1, max_length=1000, description="Dagster: the partition of a partitioned job."
    )
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    start_timeout_s: float = Field(default=120.0, gt=0, le=86400, description="Launched → job running.")
    queued_timeout_s: float | None = Field(
        default=None, gt=0, le=30 * 86400, description="Fail the run if it is still QUEUED after this long."
    )
    max_runtime_s: float | None = Field(default=None, gt=0, le=30 * 86400)
    cancel_grace_s: float = Field(default=10.0, ge=0, le=3600, description="SIGTERM → SIGKILL on cancel.")
    retry: RunRetryPolicy = Field(default_factory=RunRetryPolicy)
    kubernetes: KubernetesRunOverrides | None = None

    @model_validator(mode="after")
    def _names_a_job(self) -> RunRequest:
        if not self.job and not self.assets:
            raise ValueError("name a job, or assets to materialize")
        return self

    @field_validator("config")
    @classmethod
    def _config_fits(cls, value: dict[str, Any]) -> dict[str, Any]:
        return dict(check_size("config", value, MAX_CONFIG_BYTES))

    @field_validator("tags")
    @classmethod
    def _tags_fit(cls, value: dict[str, str]) -> dict[str, str]:
        priority_of(value)  # a priority tag that is no integer is refused here, naming the tag
        return dict(check_size("tags", value, MAX_TAGS_BYTES))

    @property
    def priority(self) -> int:
        """The run's place in the run queue (its priority tag; higher first)."""
        return priority_of(self.tags)


class ReexecuteRequest(BaseModel):
    """Launch a run again: the same location, job, config, tags and options, with these overrides."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = Field(default=None, description="Replaces the parent's config when set.")
    tags: dict[str, str] | None = Field(default=None, description="Merged over the parent's tags.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("config")
    @classmethod
    def _config_fits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else dict(check_size("config", value, MAX_CONFIG_BYTES))

    @field_validator("tags")
    @classmethod
    def _tags_fit(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        priority_of(value)
        return dict(check_size("tags", value, MAX_TAGS_BYTES))


class RunEvent(BaseModel):
    """One structured event of a run, numbered by the run worker."""

    seq: int = Field(ge=1, le=MAX_INT32)
    time: datetime
    type: str = Field(min_length=1, max_length=64)
    message: str = Field(default="", max_length=64_000)
    attempt: int = Field(default=1, ge=1, le=MAX_INT32)


class LogLine(BaseModel):
    """One captured line of a run worker's stdout or stderr."""

    seq: int = Field(ge=1, le=MAX_INT32)
    time: datetime
    stream: str = Field(default="stdout", pattern=r"^(stdout|stderr)$")
    line: str = Field(max_length=64_000)
    attempt: int = Field(default=1, ge=1, le=MAX_INT32)


class RunReport(BaseModel):
    """What the agent tells the control plane about a run's status (idempotent by `seq`)."""

    run_id: str
    status: RunStatus
    seq: int = Field(ge=0, le=MAX_INT32)
    attempt: int = Field(default=1, ge=1, le=MAX_INT32)
    reason: str = ""
    worker: str | None = Field(default=None, max_length=200, description="Handle name of the run worker.")
    log_tail: str = Field(
        default="", max_length=8000, description="The worker's last output, sent with a failure (its logs may not)."
    )
