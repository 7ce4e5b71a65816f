"""A run's failure reaches a real SMTP server and a real webhook receiver: once, signed, with the reason and the
links, without secrets; a receiver that is down gets it once when it is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.alerts.conftest import PUBLIC_URL, history, replay, report_run, wait_until
from tests.controlplane.conftest import JOBS, location_spec
from tests.support.alert_receivers import SmtpReceiver, WebhookReceiver

SECRET = "s3cret-api-key-value"


def _location_with_secret(api: httpx.Client, agent_api: httpx.Client, name: str, queue: str) -> None:
    spec = location_spec(name, queue, secret_env={"API_KEY": SECRET})
    assert api.post("/api/locations", json=spec).status_code == 201
    report = {"name": name, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": JOBS}}
    assert agent_api.put(f"/api/agent/locations/{name}/report", json=report).json() == {"applied": True}


def test_a_failed_run_is_mailed_and_posted_signed_with_its_reason_and_links_and_no_secret(
    api: httpx.Client,
    agent_api: httpx.Client,
    smtp: SmtpReceiver,
    webhook: WebhookReceiver,
    add_policy: Callable[..., dict[str, Any]],
    unique: str,
    queue: str,
):
    location = f"mail-{unique}"
    _location_with_secret(api, agent_api, location, queue)
    to = f"oncall-{unique}@example.com"
    stored = add_policy(
        name=f"failures-{unique}",
        events=["run_failure"],
        filters={"locations": [location]},
        channels=[smtp.channel(to=to), webhook.channel()],
    )
    # The API never gives the channel secrets back.
    hook = next(c for c in stored["channels"] if c["kind"] == "webhook")
    assert hook["url"] == "***" and hook["signing_secret"] == "***"
    assert webhook.secret not in api.get("/api/alerts/policies").text

    run = api.post("/api/runs", json={"location": location, "job": "noop"}).json()["run"]
    reason = f"job failed: PermissionError: denied with key {SECRET} (exit code 1)"
    report_run(agent_api, run["id"], "FAILURE", 1, reason)

    mail = wait_until(lambda: [m for m in smtp.mails if to in m.recipients], 20, "the failure mail")[0]
    assert mail.message["Subject"] == f"[Longshoreman] Run {run['id']} of {location}/noop failed"
    assert "job failed: PermissionError: denied with key *** (exit code 1)" in mail.body
    assert f"{PUBLIC_URL}/runs/{run['id']}" in mail.body
    assert "http://temporal-ui.example.test:8233/namespaces/default/workflows/run%3A" in mail.body
    posted = wait_until(lambda: webhook.hooks, 20, "the webhook")[0]
    assert posted.verified, "the signature verifies with the channel's secret"
    assert posted.headers["X-Longshoreman-Delivery"] == f"failures-{unique}:run-failure:{run['id']}"
    body = posted.json
    assert body["event"]["kind"] == "run_failure" and body["event"]["subject"] == run["id"]
    assert body["event"]["reason"] == "job failed: PermissionError: denied with key *** (exit code 1)"
    assert body["links"]["run"] == f"{PUBLIC_URL}/runs/{run['id']}"
    for text in (mail.body, posted.body.decode()):
        assert SECRET not in text

    # Each channel delivered once, recorded; a retried report is the same event: nothing more is sent.
    report_run_again = agent_api.put(
        f"/api/agent/runs/{run['id']}/report",
        json={"run_id": run["id"], "status": "FAILURE", "seq": 1, "attempt": 1, "reason": reason},
    )
    assert report_run_again.json() == {"applied": False}
    wait_until(
        lambda: (
            {r["channel"] for r in history(api, subject=run["id"]) if r["outcome"] == "delivered"} == {"mail", "hook"}
        ),
        10,
        "both deliveries recorded",
    )
    time.sleep(1.5)
    assert len([m for m in smtp.mails if to in m.recipients]) == 1
    assert len(webhook.hooks) == 1
    outcomes = sorted(r["outcome"] for r in history(api, subject=run["id"]))
    assert outcomes == ["delivered", "delivered", "fired"]


def test_a_receiver_down_for_20_s_gets_the_alert_once_when_it_is_back(
    temporal_server: TemporalDevServer,
    api: httpx.Client,
    agent_api: httpx.Client,
    webhook: WebhookReceiver,
    add_policy: Callable[..., dict[str, Any]],
    loaded_location: str,
    launch: Callable[..., dict[str, Any]],
    unique: str,
):
    add_policy(
        name=f"down-{unique}",
        events=["run_failure"],
        filters={"locations": [loaded_location]},
        channels=[webhook.channel()],
    )
    webhook.down()
    run = launch()
    report_run(agent_api, run["id"], "FAILURE", 1, "job failed: boom (exit code 1)")
    time.sleep(20)
    failed = [r for r in history(api, subject=run["id"]) if r["outcome"] == "failed"]
    assert len(failed) >= 3, failed  # retried with backoff, every attempt recorded with its error
    assert all("webhook not reached" in r["error"] for r in failed)
    assert [r["attempt"] for r in reversed(failed)] == list(range(1, len(failed) + 1))
    webhook.up()
    wait_until(lambda: webhook.hooks, 15, "the alert once the receiver is back")
    time.sleep(5)  # longer than the longest backoff: no second copy comes
    assert len(webhook.hooks) == 1 and webhook.hooks[0].verified
    delivered = [r for r in history(api, subject=run["id"]) if r["outcome"] == "delivered"]
    assert len(delivered) == 1 and delivered[0]["attempt"] == len(failed) + 1
    # The delivery's history (its retried activity included) replays on the current code.
    replay(temporal_server.address, f"alert:down-{unique}:run-failure:{run['id']}")
