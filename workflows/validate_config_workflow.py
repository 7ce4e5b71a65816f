"""ValidateConfigWorkflow: one launch's config checked by the job's own framework (Dagster) in its code server.

Started by the control plane on the location's agent queue while it answers POST /api/runs, for jobs whose
definitions say `validates_config`; it waits a few seconds at most. No state, no side effect: a check that did not
finish only means the launch went on unchecked by the code server.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.config_check import ConfigCheck, ConfigCheckRequest
    from contracts.temporal import VALIDATE_CONFIG_WORKFLOW, Activities
    from workflows import options
    from workflows.automation_ticks import why


@workflow.defn(name=VALIDATE_CONFIG_WORKFLOW)
class ValidateConfigWorkflow:
    """Ask the code server once (one retry), quickly."""

    @workflow.run
    async def run(self, request: ConfigCheckRequest) -> ConfigCheck:
        """The code server's verdict, or (valid None) why there is none."""
        try:
            check: ConfigCheck = await workflow.execute_activity(
                Activities.VALIDATE_RUN_CONFIG, request, result_type=ConfigCheck, **options.config_check()
            )
        except ActivityError as err:
            return ConfigCheck(unchecked=f"the check failed: {why(err)}")
        return check
