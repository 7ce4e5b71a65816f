"""The baseline of the overhead benchmark: a bare Temporal workflow with one activity doing the same work.

It runs in the SDK's default (sandboxed) workflow runner, as the agent's workflows do; the activity is
bench/baseline_activity.py.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn
class BareWorkflow:
    """Start one activity and return its result: the least a workflow engine can do for a job."""

    @workflow.run
    async def run(self, job: str) -> int:
        """Run the job through one activity."""
        return await workflow.execute_activity(
            "run_job", job, result_type=int, start_to_close_timeout=timedelta(seconds=60)
        )
