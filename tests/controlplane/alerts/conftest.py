"""The alert tests' control plane (quick retries and sweeps), real receivers, and policies removed afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from controlplane.alerts.workflows import CONTROL_PLANE_WORKFLOWS
from longshoreman.dev.temporal_server import TemporalDevServer
from runtime.converter import data_converter
from tests.controlplane.conftest import start_pass_control_plane
from tests.support.alert_receivers import SmtpReceiver, WebhookReceiver
from tests.support.control_plane import ControlPlane
from tests.support.encryption import session_keyring

PUBLIC_URL = "http://cp.example.test:8000"
# Quick enough for tests: attempts 1, 2, 4, 4, 4... s apart; pending events swept every second.
ALERT_ENV = {
    "LONGSHOREMAN_ALERT_RETRY_MAX_INTERVAL_S": "4",
    "LONGSHOREMAN_ALERT_RETRY_PERIOD_S": "300",
    "LONGSHOREMAN_ALERT_SWEEP_INTERVAL_S": "1",
    "LONGSHOREMAN_ALERT_AGENT_CHECK_INTERVAL_S": "1",
    "LONGSHOREMAN_PUBLIC_URL": PUBLIC_URL,
    "LONGSHOREMAN_TEMPORAL_UI_URL": "http://temporal-ui.example.test:8233",
}


@pytest.fixture(scope="session")
def control_plane(
    database: str,
    temporal_server: TemporalDevServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[ControlPlane]:
    """The alert tests' control plane on this pass's database (overrides tests/controlplane's, like agent_token)."""
    plane = start_pass_control_plane("alerts", database, temporal_server, tmp_path_factory, request, ALERT_ENV)
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpReceiver]:
    """A real SMTP server (aiosmtpd) for the session; tests look only at mails to their own address."""
    server = SmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A real HTTP receiver of this test, verifying signatures."""
    receiver = WebhookReceiver().up()
    yield receiver
    receiver.down()


@pytest.fixture
def add_policy(api: httpx.Client) -> Iterator[Callable[..., dict[str, Any]]]:
    """Create policies (201 expected); every one is removed after the test."""
    made: list[str] = []

    def _add(**policy: Any) -> dict[str, Any]:
        response = api.post("/api/alerts/policies", json=policy)
        assert response.status_code == 201, response.text
        made.append(policy["name"])
        body: dict[str, Any] = response.json()
        return body

    yield _add
    for name in made:
        api.delete(f"/api/alerts/policies/{name}")


def history(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Delivery records, newest first."""
    response = api.get("/api/alerts/history", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["deliveries"]
    return records


def wait_until(probe: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `probe` until it is truthy."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last: {last!r}")


def report_run(agent_api: httpx.Client, run_id: str, status: str, seq: int, reason: str = "") -> None:
    """The (pretend) agent reports a run's status."""
    body = {"run_id": run_id, "status": status, "seq": seq, "attempt": 1, "reason": reason}
    response = agent_api.put(f"/api/agent/runs/{run_id}/report", json=body)
    assert response.json() == {"applied": True}, response.text


def replay(temporal_address: str, workflow_id: str) -> None:
    """Replay the workflow's history, as Temporal recorded it, against the current code (non-determinism fails)."""

    async def _replay() -> None:
        converter = data_converter(session_keyring())
        client = await Client.connect(temporal_address, data_converter=converter)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        replayer = Replayer(workflows=list(CONTROL_PLANE_WORKFLOWS), data_converter=converter)
        await replayer.replay_workflow(history)

    asyncio.run(_replay())


@pytest.fixture(scope="session")
def agent_token(control_plane: ControlPlane) -> str:
    """An agent token of the alert tests' control plane (its own fixture: a session fixture of tests/controlplane
    resolved here would be cached with this control plane's token for every other test)."""
    return control_plane.create_agent_token("alert-tests")
