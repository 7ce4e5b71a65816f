"""Names the control plane and the agent share to address workflows and activities.

The control plane never imports the workflow code: it starts and steers workflows by these names. The data
converter they all use is in runtime/converter.py.
"""

from __future__ import annotations

from datetime import timedelta

LOCATION_WORKFLOW = "CodeLocationWorkflow"
RUN_WORKFLOW = "RunWorkflow"
SCHEDULE_TICK_WORKFLOW = "ScheduleTickWorkflow"
SENSOR_WORKFLOW = "SensorWorkflow"
BACKFILL_WORKFLOW = "BackfillWorkflow"
VALIDATE_CONFIG_WORKFLOW = "ValidateConfigWorkflow"
# A workflow task held by an agent that died is handed to a replica after this (Temporal's default is 10 s: a run
# or location whose agent died mid-task waited that long). Our workflows are small: a task takes milliseconds, and
# one that times out on a slow live agent is merely retried. Continue-as-new keeps it.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=3)

# Workflow handlers (CodeLocationWorkflow's; SensorWorkflow's stop, status and settings)
REDEPLOY_UPDATE = "redeploy"
STOP_SIGNAL = "stop"
STATUS_QUERY = "status"
UPGRADE_SIGNAL = "check_version"  # a newer agent version is current: move over (continue-as-new) when quiet
UPDATE_SETTINGS_SIGNAL = "update_settings"  # SensorWorkflow: a redeploy changed its interval or timeout


def location_workflow_id(name: str) -> str:
    """Workflow id of a code location's lifecycle workflow."""
    return f"location:{name}"


def run_workflow_id(run_id: str) -> str:
    """Workflow id of a run's workflow."""
    return f"run:{run_id}"


class Activities:
    """Activity names: workflows schedule them by name so workflow code never imports activity code."""

    LAUNCH_CODE_SERVER = "launch_code_server"
    AWAIT_HEALTHY = "await_healthy"
    FETCH_DEFINITIONS = "fetch_definitions"
    SUPERVISE_CODE_SERVER = "supervise_code_server"
    STOP_CODE_SERVER = "stop_code_server"
    LAUNCH_RUN_WORKER = "launch_run_worker"  # RunWorkflow before the launch-watches-start patch
    START_RUN_WORKER = "start_run_worker"
    AWAIT_RUN_STARTED = "await_run_started"
    SUPERVISE_RUN_WORKER = "supervise_run_worker"
    STOP_RUN_WORKER = "stop_run_worker"
    REPORT_LOCATION = "report_location"
    REPORT_RUN = "report_run"
    EVALUATE_SCHEDULE_TICK = "evaluate_schedule_tick"
    RUN_SCHEDULE_TICK = "run_schedule_tick"  # evaluate + launch + report (patch schedule-tick-one-activity)
    EVALUATE_SENSOR_TICK = "evaluate_sensor_tick"
    LAUNCH_TICK_RUNS = "launch_tick_runs"
    REPORT_TICK = "report_tick"
    WAIT_FOR_RUNS = "wait_for_runs"
    VALIDATE_RUN_CONFIG = "validate_run_config"
