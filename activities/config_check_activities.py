"""The activity of ValidateConfigWorkflow: a launch's config checked by the job's framework in its code server.

The user's framework (Dagster) runs in the code server, never here: this only carries the question and the
verdict. Anything short of a verdict (no LOADED code server, no answer in time, an older code server without the
endpoint) comes back as `unchecked`, and the launch goes on: the run worker checks again.
"""

from __future__ import annotations

from temporalio import activity

from activities.code_server_client import CodeServerClient, NotServing
from contracts.code_server_protocol import validate_config_path
from contracts.config_check import ConfigCheck, ConfigCheckRequest
from contracts.temporal import Activities

# The code server's answer is a pure check (no user function runs): it takes milliseconds.
CODE_SERVER_TIMEOUT_S = 3.0


class ConfigCheckActivities:
    """Asks the location's serving code server whether a config is valid for a job."""

    def __init__(self, code_servers: CodeServerClient) -> None:
        self._code_servers = code_servers

    @activity.defn(name=Activities.VALIDATE_RUN_CONFIG)
    async def validate_run_config(self, request: ConfigCheckRequest) -> ConfigCheck:
        """The code server's verdict on `request.config`, or why there is none."""
        path = validate_config_path(request.job)
        try:
            answer = await self._code_servers.ask(
                request.location, path, request.body(), timeout_s=CODE_SERVER_TIMEOUT_S
            )
        except NotServing as err:
            return ConfigCheck(unchecked=err.message)
        valid = answer.get("valid")
        if answer.get("error") or not isinstance(valid, bool):
            return ConfigCheck(unchecked=str(answer.get("error") or "the code server gave no verdict"))
        return ConfigCheck(valid=valid, errors=[str(message) for message in answer.get("errors") or []])
