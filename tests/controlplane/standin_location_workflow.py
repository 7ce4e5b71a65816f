"""A stand-in for the agent's CodeLocationWorkflow, registered under the same names.

The real workflow lives in workflows/ and needs a whole agent; these tests only check what the control plane
sends (update `redeploy` with its validator, signal `stop`) through a real Temporal server and a real worker.
"""

from __future__ import annotations

from temporalio import workflow

from contracts.agent import LocationState, RedeployRequest, RedeployResult
from contracts.locations import LocationSpec
from contracts.statuses import LocationStatus
from contracts.temporal import LOCATION_WORKFLOW, REDEPLOY_UPDATE, STOP_SIGNAL

REJECTED_MODULE = "rejected.by.validator"


@workflow.defn(name=LOCATION_WORKFLOW)
class StandInLocationWorkflow:
    """Records redeploys; finishes on stop."""

    def __init__(self) -> None:
        self.redeployed: list[LocationSpec] = []
        self.stopped = False

    @workflow.run
    async def run(self, state: LocationState) -> None:
        """Wait for the stop signal."""
        await workflow.wait_condition(lambda: self.stopped)

    @workflow.update(name=REDEPLOY_UPDATE)
    async def redeploy(self, request: RedeployRequest) -> RedeployResult:
        """Accept the new spec."""
        self.redeployed.append(request.spec)
        return RedeployResult(generation=len(self.redeployed) + 1, server="standin", status=LocationStatus.LOADED)

    @redeploy.validator
    def validate_redeploy(self, request: RedeployRequest) -> None:
        """Reject one recognisable spec, as the real validator rejects bad ones."""
        if request.spec.module == REJECTED_MODULE:
            raise ValueError(f"module {REJECTED_MODULE} cannot be deployed")

    @workflow.signal(name=STOP_SIGNAL)
    def stop(self) -> None:
        """Finish the workflow."""
        self.stopped = True

    @workflow.query(name="redeployed")
    def redeployed_specs(self) -> list[LocationSpec]:
        """Specs received by `redeploy`, in order."""
        return self.redeployed
