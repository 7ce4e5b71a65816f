"""Alerts across a Temporal restart (same SQLite file, same port): an alert that fired while Temporal was down
goes out once it is back, one being retried when it stopped is delivered once, and nothing is sent twice."""

from __future__ import annotations

import time
from pathlib import Path

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.alerts.conftest import ALERT_ENV, history, report_run, wait_until
from tests.controlplane.conftest import JOBS, location_spec
from tests.support.alert_receivers import WebhookReceiver
from tests.support.control_plane import ControlPlane


def test_alerts_survive_a_temporal_restart_and_none_is_sent_twice(tmp_path: Path, unique: str) -> None:
    temporal = TemporalDevServer.headless_in(tmp_path).start()
    plane = ControlPlane.start(temporal.address, tmp_path / "controlplane", extra_env=ALERT_ENV)
    webhook = WebhookReceiver().up()
    try:
        api, agent_api = plane.client(), plane.client(plane.create_agent_token("t"))
        location = f"tr-{unique}"
        assert api.post("/api/locations", json=location_spec(location, f"q-{unique}")).status_code == 201
        report = {"name": location, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": JOBS}}
        assert agent_api.put(f"/api/agent/locations/{location}/report", json=report).json() == {"applied": True}
        policy = {"name": "tr", "events": ["run_failure"], "channels": [webhook.channel()]}
        assert api.post("/api/alerts/policies", json=policy).status_code == 201

        def launch() -> str:
            return str(api.post("/api/runs", json={"location": location, "job": "noop"}).json()["run"]["id"])

        def fail(run_id: str) -> str:
            report_run(agent_api, run_id, "FAILURE", 1, "job failed (exit code 1)")
            return run_id

        before = fail(launch())
        wait_until(lambda: webhook.hooks, 15, "the first alert")
        webhook.down()
        retried = fail(launch())  # being retried when Temporal stops
        wait_until(lambda: [r for r in history(api, subject=retried) if r["outcome"] == "failed"], 10, "a retry")
        pending = launch()
        temporal.stop()
        # Its failure is reported while Temporal is down: the event is stored with the FAILURE, waiting to go out.
        fail(pending)
        webhook.up()
        time.sleep(2)
        temporal.start()
        subjects = {before, retried, pending}
        wait_until(lambda: {h.json["event"]["subject"] for h in webhook.hooks} >= subjects, 60, "every alert")
        time.sleep(6)  # longer than the longest backoff and several sweeps
        sent = sorted(h.json["event"]["subject"] for h in webhook.hooks)
        assert sent == sorted(subjects), sent
    finally:
        webhook.down()
        plane.stop()
        temporal.stop()
