"""Log forwarding off, end to end: a real control plane, Temporal, an agent whose run workers keep their logs in
S3 (moto over real HTTP). No log text reaches the control plane's database or the run's Temporal history; the
CLI reads the logs from the bucket with the user's own credentials, or says where they are."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from contracts.temporal import run_workflow_id
from longshoreman.dev.temporal_server import TemporalDevServer
from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.support.agent import REPO_ROOT, AgentProcess
from tests.support.aws import REGION, MotoServer
from tests.support.control_plane import ControlPlane
from tests.support.leaky_jobs import marker
from tests.support.stack import Stack

BUCKET = "compute-logs"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


@pytest.fixture
def private_stack(
    temporal_server: TemporalDevServer,
    control_plane: ControlPlane,
    moto: MotoServer,
    unique: str,
    tmp_path: Path,
) -> Iterator[Stack]:
    """An agent with log forwarding off and an S3 store; its runs' locations carry the workers' AWS credentials."""
    moto.reset()
    moto.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    agent = AgentProcess(
        temporal_address=temporal_server.address,
        control_plane_url=control_plane.url,
        agent_token=control_plane.create_agent_token(f"private-{unique}", queues=[f"queue-{unique}"]),
        task_queue=f"queue-{unique}",
        state_dir=tmp_path / "agent-state",
        log_file=tmp_path / "agent.log",
        extra_env={
            "LONGSHOREMAN_COMPUTE_LOGS__STORE": "s3",
            "LONGSHOREMAN_COMPUTE_LOGS__BUCKET": BUCKET,
            "LONGSHOREMAN_COMPUTE_LOGS__PREFIX": f"runs/{unique}",
            "LONGSHOREMAN_COMPUTE_LOGS__REGION": REGION,
            "LONGSHOREMAN_COMPUTE_LOGS__ENDPOINT_URL": moto.url,
            "LONGSHOREMAN_COMPUTE_LOGS__FORWARD": "false",
        },
    ).start()
    try:
        with control_plane.client() as client:
            stack = Stack(client=client, agent=agent, queue=agent.task_queue, prefix=unique[:6])
            yield stack
            stack.remove_all()
    finally:
        agent.stop()
        agent.kill_leftovers()  # whatever a failed test or removal left running


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a history event (inputs, results, failures, details, memo, headers)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads_in(item)


async def decoded_history(client: Client, run_id: str) -> str:
    """The run workflow's whole history as text, every payload decrypted with the session's keys."""
    history = await client.get_workflow_handle(run_workflow_id(run_id)).fetch_history()
    codec = client.data_converter.payload_codec
    assert codec is not None
    texts = [history.to_json()]
    for event in history.events:
        payloads = list(payloads_in(event))
        if payloads:
            texts += [p.data.decode(errors="replace") for p in await codec.decode(payloads)]
    return "\n".join(texts)


def database_dump(control_plane: ControlPlane) -> str:
    """Every row of every table of the control plane's database, as SQL text."""
    path = control_plane.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        return "\n".join(connection.iterdump())


async def test_with_forwarding_off_no_log_text_reaches_the_control_plane_or_temporal(
    private_stack: Stack,
    control_plane: ControlPlane,
    temporal_client: Client,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = private_stack
    stack.add_location(
        stack.spec(
            module="tests.support.leaky_jobs",
            working_dir=str(REPO_ROOT),
            # The run worker's own credentials for the bucket (in a real agent: its task role or identity).
            env={"AWS_DEFAULT_REGION": REGION},
            secret_env={k: v for k, v in AWS.items() if k != "AWS_DEFAULT_REGION"},
        )
    )
    run_id = stack.launch("leak")
    run = stack.wait_run(run_id, {"FAILURE"})
    mark = marker(run_id)

    # What the control plane says: the exception's type, where the logs are, no tail, no lines.
    assert run["reason"] == "job failed: RuntimeError (message and traceback in the compute logs) (exit code 1)"
    assert run["log_tail"] == ""
    logs = run["compute_logs"]
    assert logs["store"] == "s3" and logs["forwarded"] is False and logs["url"].startswith(f"s3://{BUCKET}/runs/")
    assert stack.client.get(f"/api/runs/{run_id}/logs").json() == {"lines": []}
    events = stack.client.get(f"/api/runs/{run_id}/events").json()["events"]
    assert {"RUN_START", "JOB_START", "PROGRESS", "JOB_FAILURE"} <= {e["type"] for e in events}  # events flow

    dump = database_dump(control_plane)
    history = await decoded_history(temporal_client, run_id)
    assert run_id in dump and '"leak"' in history  # the searches below can see what is there...
    assert mark not in dump and mark not in history  # ...and the log text is not

    # The user reads the logs straight from the bucket with their own credentials.
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    cli = Cli(control_plane.url, control_plane.admin_token)
    result = cli("run", "logs", run_id)
    assert result.exit_code == 0, result.output
    assert f"stdout says {mark}" in result.stdout and f"stderr says {mark}" in result.stdout
    assert f"RuntimeError: the exception says {mark}" in result.stdout  # the traceback, on stderr
    assert "not forwarded" in cli("run", "show", run_id).stdout

    # When the bucket cannot be read from here, the CLI says where the logs are instead.
    s3 = moto.client("s3")
    for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]:
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)
    line = one_error_line(cli("run", "logs", run_id))
    assert f"the logs of run {run_id} are kept in s3://{BUCKET}/runs/" in line and "cannot read them here" in line
