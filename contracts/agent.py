"""Inputs and outputs of the agent's workflows and activities."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from contracts.compute_logs import ComputeLogs
from contracts.handles import CodeServerHandle, RunWorkerHandle
from contracts.kubernetes import KubernetesRunOverrides
from contracts.locations import Definitions, LauncherKind, LocationSpec, SupervisionSettings
from contracts.run_protocol import RunStatus, classify_exit
from contracts.runs import RunRequest
from contracts.statuses import LocationStatus

# ---- code locations -------------------------------------------------------------------------


class LocationState(BaseModel):
    """All state of one CodeLocationWorkflow; carried whole through continue-as-new."""

    spec: LocationSpec
    generation: int = 1
    instance: int = 0
    server: CodeServerHandle | None = None
    status: LocationStatus = LocationStatus.STARTING
    message: str = ""
    consecutive_failures: int = 0
    report_seq: int = 0
    definitions: Definitions | None = None
    stop_requested: bool = False
    halted: bool = Field(default=False, description="A start failed in a way only a redeploy can fix; no restarts.")


class RedeployRequest(BaseModel):
    """Blue/green redeploy to `spec` (same name)."""

    spec: LocationSpec


class RedeployResult(BaseModel):
    """Outcome of a redeploy update."""

    generation: int
    server: str
    status: LocationStatus


class LaunchServerInput(BaseModel):
    """Start (or adopt) the code-server instance named by location, generation and instance."""

    spec: LocationSpec
    generation: int
    instance: int


class ProbeInput(BaseModel):
    """Probe a code server's health."""

    handle: CodeServerHandle
    health_path: str = "/health"
    timeout_s: float = Field(default=60.0, gt=0, description="await_healthy: give up after this long.")
    settings: SupervisionSettings = Field(default_factory=SupervisionSettings)


class HealthResult(BaseModel):
    """A server answered healthy."""

    healthy: bool
    elapsed_s: float = 0.0


class ServerExit(BaseModel):
    """Why supervision of a code server ended."""

    reason: str
    healthy_for_s: float = 0.0


class StopServerInput(BaseModel):
    """Stop a code-server instance: SIGTERM/stop, grace, kill, remove."""

    handle: CodeServerHandle
    grace_s: float = 10.0


class StopResult(BaseModel):
    """What a stop did."""

    stopped: bool
    detail: str = ""
    exit_code: int | None = Field(default=None, description="Set when the process had already exited by itself.")
    signal: int | None = Field(default=None, description="Set when the process had already been killed by a signal.")

    @property
    def ended_by_itself(self) -> bool:
        """The process had exited on its own before the stop (not by the stop's signal)."""
        return classify_exit(self.exit_code, self.signal).by_itself


# ---- runs -----------------------------------------------------------------------------------


class RunWorkflowInput(BaseModel):
    """Everything a RunWorkflow needs; the location spec is a snapshot taken at launch."""

    run_id: str
    request: RunRequest
    location: LocationSpec


class RunResult(BaseModel):
    """Final outcome of a run."""

    run_id: str
    status: RunStatus
    reason: str = ""
    attempts: int = 1


class LaunchRunInput(BaseModel):
    """Start (or adopt) the worker for one attempt of one run."""

    run_id: str
    attempt: int
    job: str
    config: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    location: LocationSpec
    max_runtime_s: float | None = Field(default=None, description="For backends that enforce it too (k8s deadline).")
    start_timeout_s: float | None = Field(default=None, description="For backends that judge starts themselves.")
    kubernetes: KubernetesRunOverrides | None = None
    watch_s: float = Field(
        default=0.0, ge=0, le=60, description="start_run_worker: watch the new worker this long before returning."
    )
    compute_logs: ComputeLogs | None = Field(
        default=None, description="Set by the agent's launch activity from its compute-log setting, not by workflows."
    )


class OutcomeKind(StrEnum):
    """How a run worker's supervision ended."""

    EXITED = "EXITED"
    START_TIMEOUT = "START_TIMEOUT"
    MAX_RUNTIME = "MAX_RUNTIME"
    LOST = "LOST"


class WatchRunInput(BaseModel):
    """Watch a run worker: until it runs (await_run_started) or until it exits (supervise_run_worker)."""

    handle: RunWorkerHandle


class RunOutcome(BaseModel):
    """How a run worker ended, with a concrete reason."""

    kind: OutcomeKind
    exit_code: int | None = None
    signal: int | None = None
    reason: str = ""
    infrastructure: bool = Field(default=False, description="Not the user's code: may be retried as a new attempt.")
    log_tail: str = ""

    @property
    def succeeded(self) -> bool:
        """True for a clean exit 0."""
        return self.kind is OutcomeKind.EXITED and self.exit_code == 0

    @property
    def ended_by_itself(self) -> bool:
        """It exited on its own (the job's success or failure), not stopped by a signal (a cancel's SIGTERM)."""
        return self.kind is OutcomeKind.EXITED and classify_exit(self.exit_code, self.signal).by_itself


class RunStarted(BaseModel):
    """The run worker is executing the job, or already ended before we saw it run."""

    running: bool = Field(description="The job got as far as running.")
    outcome: RunOutcome | None = Field(default=None, description="Set when the worker has already ended.")


class WorkerLaunch(BaseModel):
    """A started run worker, and what the launch saw of it while it watched."""

    handle: RunWorkerHandle
    started: RunStarted | None = Field(
        default=None, description="None: still starting when the watch ended; await_run_started takes over."
    )
    running_after_s: float | None = Field(default=None, description="Launch → job seen running, when the watch saw it.")


class StopRunInput(BaseModel):
    """Stop a run worker gracefully then kill it; found by run id + attempt, so no handle is needed."""

    run_id: str
    attempt: int
    launcher: LauncherKind
    grace_s: float = 10.0


class Ack(BaseModel):
    """The control plane took a report."""

    applied: bool = True
