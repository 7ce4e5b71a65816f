"""Policies through the API: secrets never come back, a policy read back and sent again keeps them, bad policies
are refused with a reason and store nothing, and the default policy of a new deployment is there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.controlplane.alerts.conftest import history, wait_until
from tests.support.alert_receivers import WebhookReceiver


def test_a_policy_read_back_and_sent_again_keeps_its_secrets(
    api: httpx.Client, webhook: WebhookReceiver, add_policy: Callable[..., dict[str, Any]], unique: str
):
    name = f"kept-{unique}"
    add_policy(name=name, events=["run_failure"], filters={"locations": [f"x-{unique}"]}, channels=[webhook.channel()])
    shown = api.get(f"/api/alerts/policies/{name}").json()
    assert shown["channels"][0]["url"] == "***" and shown["channels"][0]["signing_secret"] == "***"
    shown["description"] = "edited in the UI"
    assert api.put(f"/api/alerts/policies/{name}", json=shown).status_code == 200
    # The stored URL and signing secret were kept: the test alert arrives, and its signature verifies.
    sent = api.post(f"/api/alerts/policies/{name}/test")
    assert sent.status_code == 202, sent.text
    wait_until(lambda: webhook.hooks, 15, "the test alert")
    assert webhook.hooks[0].verified
    assert webhook.hooks[0].json["title"] == f"Test alert of policy {name}"
    assert api.get(f"/api/alerts/policies/{name}").json()["description"] == "edited in the UI"
    wait_until(lambda: [r for r in history(api, policy=name) if r["outcome"] == "delivered"], 5, "the delivery record")
    # The web UI's Alerts page lists the policy and its delivery, never a secret.
    page = api.get("/alerts")
    assert page.status_code == 200, page.text
    assert name in page.text and "hook (webhook)" in page.text and "delivered" in page.text
    assert webhook.secret not in page.text and webhook.url not in page.text


def test_bad_policies_are_refused_with_a_reason_and_store_nothing(api: httpx.Client, unique: str):
    name = f"bad-{unique}"
    cases = [
        ({"name": name, "events": []}, "events"),
        (
            {
                "name": name,
                "events": ["run_failure"],
                "channels": [
                    {"name": "h", "kind": "webhook", "url": "ftp://x", "signing_secret": "long-enough-secret"}
                ],
            },
            "starts with http:// or https://",
        ),
        (
            {
                "name": name,
                "events": ["run_failure"],
                "channels": [{"name": "h", "kind": "webhook", "url": "https://x.example", "signing_secret": "short"}],
            },
            "at least 16 characters",
        ),
        ({"name": name, "events": ["agent_available"]}, "cannot be subscribed to"),
        (
            {
                "name": name,
                "events": ["run_failure"],
                "channels": [
                    {
                        "name": "t",
                        "kind": "teams",
                        "url": "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
                    }
                ],
            },
            "the url is a Slack URL, not a teams one",
        ),
        (
            {
                "name": name,
                "events": ["run_failure"],
                "channels": [{"name": "h", "kind": "webhook", "url": "***", "signing_secret": "***"}],
            },
            "keeps a stored url, and none is stored",
        ),
    ]
    for body, expected in cases:
        response = api.post("/api/alerts/policies", json=body)
        assert response.status_code == 422, (body, response.text)
        assert expected in response.json()["detail"], response.json()
        assert "TIiajkdnlazkcOXrIdevi7FQ" not in response.text  # a refused URL is not echoed either
    assert api.get(f"/api/alerts/policies/{name}").status_code == 404
    assert api.put("/api/alerts/policies/other", json={"name": name, "events": ["run_failure"]}).status_code == 422
    assert api.delete(f"/api/alerts/policies/{name}").status_code == 404


def test_a_new_deployment_has_the_long_running_policy(api: httpx.Client):
    default = api.get("/api/alerts/policies/long-running-runs").json()
    assert default["events"] == ["run_long_running"]
    assert default["thresholds"]["run_long_running_s"] == 86400
    assert default["channels"] == []
