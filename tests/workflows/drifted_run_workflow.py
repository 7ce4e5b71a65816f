"""A RunWorkflow changed without workflow.patched: it no longer reports STARTED, so old histories cannot replay."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.agent import RunResult, RunWorkflowInput
    from contracts.run_protocol import RunStatus
    from contracts.temporal import RUN_WORKFLOW
    from workflows.run_workflow import RunWorkflow


@workflow.defn(name=RUN_WORKFLOW)
class DriftedRunWorkflow(RunWorkflow):
    """The current RunWorkflow minus its STARTED report: a non-deterministic change."""

    @workflow.run
    async def run(self, params: RunWorkflowInput) -> RunResult:
        """Same as RunWorkflow."""
        return await super().run(params)

    def _report(self, params: RunWorkflowInput, status: RunStatus, attempt: int, reason: str = "") -> None:
        if status is not RunStatus.STARTED:
            super()._report(params, status, attempt, reason)
