"""Two control planes on one database share the alert queue: every alert is delivered exactly once whichever
replica saw the event, and the other replica finishes the deliveries of one that was killed."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.alerts.conftest import ALERT_ENV, history, wait_until
from tests.controlplane.conftest import JOBS, location_spec
from tests.support.alert_receivers import WebhookReceiver
from tests.support.control_plane import ControlPlane


def test_two_replicas_deliver_each_alert_once_and_one_finishes_what_a_killed_one_started(
    temporal_server: TemporalDevServer, fresh_database_url: str, webhook: WebhookReceiver, unique: str, tmp_path: Path
):
    env = ALERT_ENV | {"LONGSHOREMAN_ALERTS_TASK_QUEUE": f"replicas-{unique}"}
    token = secrets.token_urlsafe(24)
    planes = [
        ControlPlane.start(
            temporal_server.address, tmp_path / name, database_url=fresh_database_url, extra_env=env, admin_token=token
        )
        for name in ("a", "b")
    ]
    try:
        apis = [plane.client() for plane in planes]
        agent_token = planes[0].create_agent_token(f"replicas-{unique}")
        agents = [plane.client(agent_token) for plane in planes]
        location = f"rep-{unique}"
        assert apis[0].post("/api/locations", json=location_spec(location, f"q-{unique}")).status_code == 201
        report = {"name": location, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": JOBS}}
        assert agents[1].put(f"/api/agent/locations/{location}/report", json=report).json() == {"applied": True}
        policy = {
            "name": f"rep-{unique}",
            "events": ["run_failure"],
            "filters": {"locations": [location]},
            "channels": [webhook.channel()],
        }
        assert apis[1].post("/api/alerts/policies", json=policy).status_code == 201

        runs = []
        for number in range(6):  # launched on one replica, failed through the other
            run = apis[number % 2].post("/api/runs", json={"location": location, "job": "noop"}).json()["run"]
            body = {"run_id": run["id"], "status": "FAILURE", "seq": 1, "reason": f"failure {number}"}
            assert agents[(number + 1) % 2].put(f"/api/agent/runs/{run['id']}/report", json=body).json()["applied"]
            runs.append(run["id"])
        wait_until(lambda: len(webhook.hooks) >= 6, 20, "six alerts")
        time.sleep(2)
        assert sorted(hook.json["event"]["subject"] for hook in webhook.hooks) == sorted(runs)

        # The receiver is down; replica a is killed while the alert is being retried: b delivers it, once.
        webhook.down()
        run = apis[0].post("/api/runs", json={"location": location, "job": "noop"}).json()["run"]
        body = {"run_id": run["id"], "status": "FAILURE", "seq": 1, "reason": "the seventh"}
        assert agents[0].put(f"/api/agent/runs/{run['id']}/report", json=body).json()["applied"]
        wait_until(
            lambda: [r for r in history(apis[1], subject=run["id"]) if r["outcome"] == "failed"], 10, "an attempt"
        )
        planes[0].kill()
        webhook.up()
        wait_until(lambda: any(h.json["event"]["subject"] == run["id"] for h in webhook.hooks), 60, "the 7th alert")
        time.sleep(5)
        assert [h.json["event"]["subject"] for h in webhook.hooks].count(run["id"]) == 1 and len(webhook.hooks) == 7
        assert [r["outcome"] for r in history(apis[1], subject=run["id"])].count("delivered") == 1
    finally:
        for plane in planes:
            plane.stop()
