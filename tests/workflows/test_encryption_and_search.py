"""End to end: payloads reach Temporal encrypted, authorized users decode them through the control plane's
codec endpoint, and runs are findable by our search attributes (which carry no secret)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from typing import Any

from google.protobuf import json_format
from temporalio.client import Client

from longshoreman.dev.temporal_server import TemporalDevServer, temporal_binary
from tests.support.control_plane import ControlPlane
from tests.support.encryption import key_env
from tests.support.stack import Stack


def show_history(temporal: TemporalDevServer, workflow_id: str, *codec: str) -> str:
    """The payload data of `temporal workflow show --output json` (optionally through a codec endpoint), as text."""
    command = [temporal_binary(), "workflow", "show", "--address", temporal.address, "-w", workflow_id]
    result = subprocess.run(
        [*command, "--output", "json", *codec], capture_output=True, text=True, timeout=60, check=True
    )
    return "\n".join(payload_texts(json.loads(result.stdout)))


def payload_texts(value: Any) -> list[str]:
    """Every payload's data, base64-decoded."""
    if isinstance(value, dict):
        texts = (
            [base64.b64decode(value["data"]).decode(errors="replace")]
            if "metadata" in value and "data" in value
            else []
        )
        return texts + [text for item in value.values() for text in payload_texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in payload_texts(item)]
    return []


async def test_a_secret_in_the_location_env_reaches_temporal_only_encrypted(
    stack: Stack, control_plane: ControlPlane, temporal_server: TemporalDevServer, temporal_client: Client
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    encoded_secret = base64.b64encode(secret.encode()).decode()[:20]
    location = stack.add_location(stack.spec(env={"HELLO_SECRET": secret}))
    run_id = stack.launch("greet", {"name": "docks"})
    run = stack.wait_run(run_id)
    assert run["status"] == "SUCCESS"

    # A client WITHOUT the codec sees only ciphertext, in every event of both workflows.
    raw = await Client.connect(temporal_server.address)
    for workflow_id in (f"run:{run_id}", location["workflow_id"]):
        text = (await raw.get_workflow_handle(workflow_id).fetch_history()).to_json()
        assert secret not in text and encoded_secret not in text, workflow_id
        assert base64.b64encode(b"binary/encrypted").decode() in text

    # The codec endpoint (admin) decrypts the run's start input: the location spec with its env.
    history = await raw.get_workflow_handle(f"run:{run_id}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = json.loads(json_format.MessageToJson(started.input))
    with control_plane.client() as api:
        decoded = api.post("/codec/decode", json=body)
    assert decoded.status_code == 200, decoded.text
    payload = decoded.json()["payloads"][0]
    assert secret in base64.b64decode(payload["data"]).decode()

    # The Temporal CLI decodes through the same endpoint with --codec-endpoint/--codec-auth; without it, it cannot.
    codec = ["--codec-endpoint", f"{control_plane.url}/codec", "--codec-auth", f"Bearer {control_plane.admin_token}"]
    assert secret in show_history(temporal_server, f"run:{run_id}", *codec)
    assert secret not in show_history(temporal_server, f"run:{run_id}")

    # `longshoreman replay` fetches both histories from Temporal and replays them with the keys.
    env = {"PATH": os.environ["PATH"], "LONGSHOREMAN_TEMPORAL__ADDRESS": temporal_server.address} | key_env()
    for target in ([run_id], ["--location", location["name"], "--all-runs"]):
        replay = subprocess.run(
            [sys.executable, "-m", "longshoreman", "replay", *target], env=env, capture_output=True, text=True
        )
        assert replay.returncode == 0 and "replayed cleanly" in replay.stdout, replay.stdout + replay.stderr

    # Search attributes are plain text in Temporal: only names and statuses, never the secret.
    description = await temporal_client.get_workflow_handle(f"run:{run_id}").describe()
    attributes: dict[str, Any] = {key: value for key, value in description.search_attributes.items()}
    assert secret not in json.dumps(attributes, default=str)


async def test_runs_are_found_by_search_attributes_and_linked_to_the_temporal_ui(
    stack: Stack, temporal_client: Client
) -> None:
    location = stack.add_location(stack.spec())
    ok, failed = stack.launch("greet"), stack.launch("fail")
    assert stack.wait_run(ok)["status"] == "SUCCESS"
    assert stack.wait_run(failed)["status"] == "FAILURE"

    name = location["name"]

    async def listed(query: str, expected: int = 1) -> set[str]:
        """The workflows `query` finds, once it finds `expected` (visibility is eventually consistent)."""
        found: set[str] = set()
        for _ in range(100):
            found = {execution.id async for execution in temporal_client.list_workflows(query)}
            if len(found) >= expected:
                break
            await asyncio.sleep(0.1)
        return found

    succeeded = f"LongshoremanLocation = '{name}' AND LongshoremanJob = 'greet' AND LongshoremanRunStatus = 'SUCCESS'"
    assert await listed(succeeded) == {f"run:{ok}"}
    assert await listed(f"LongshoremanRunStatus = 'FAILURE' AND LongshoremanLocation = '{name}'") == {f"run:{failed}"}
    agent_runs = f"LongshoremanAgent = '{stack.queue}' AND WorkflowType = 'RunWorkflow'"
    assert await listed(agent_runs, 2) == {f"run:{ok}", f"run:{failed}"}
    locations = f"LongshoremanLocation = '{name}' AND LongshoremanLocationStatus = 'LOADED'"
    assert await listed(locations) == {f"location:{name}"}

    run = stack.run(ok)
    assert run["temporal_url"] == f"http://127.0.0.1:8233/namespaces/default/workflows/run%3A{ok}"
    assert stack.location(name)["temporal_url"].endswith(f"/workflows/location%3A{name}")
    # The run's page links its workflow in the Temporal Web UI.
    page = stack.client.get(f"/runs/{ok}").text
    assert f'href="{run["temporal_url"]}"' in page
