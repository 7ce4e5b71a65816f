"""Names the control plane and the agent share to address workflows, plus the data converter.

The control plane never imports the workflow code: it starts and steers workflows by these names.
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from contracts.codec import EncryptionCodec, KeyRing

LOCATION_WORKFLOW = "CodeLocationWorkflow"
RUN_WORKFLOW = "RunWorkflow"

# CodeLocationWorkflow handlers
REDEPLOY_UPDATE = "redeploy"
STOP_SIGNAL = "stop"
STATUS_QUERY = "status"


def location_workflow_id(name: str) -> str:
    """Workflow id of a code location's lifecycle workflow."""
    return f"location:{name}"


def run_workflow_id(run_id: str) -> str:
    """Workflow id of a run's workflow."""
    return f"run:{run_id}"


def data_converter(keys: KeyRing | None = None) -> DataConverter:
    """The converter every Temporal client and worker of the project uses: pydantic models as JSON, encrypted.

    With `keys`, every payload is AES-GCM encrypted (see contracts/codec.py) and failure messages and stack
    traces move into an encrypted payload too, since reasons can quote user output. Without keys (only when
    plaintext payloads were explicitly allowed, or to read raw histories) payloads are plain JSON.
    """
    if keys is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


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
