"""Time-based events fire once when their condition held for the policy's threshold, never when it ended before;
filters keep out what they should."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.alerts.conftest import PUBLIC_URL, history, replay, report_run, wait_until
from tests.controlplane.conftest import JOBS, location_spec
from tests.support.alert_receivers import WebhookReceiver


def _kinds(webhook: WebhookReceiver) -> list[tuple[str, str]]:
    return sorted((hook.json["event"]["kind"], hook.json["event"]["subject"]) for hook in webhook.hooks)


def test_long_running_and_queued_too_long_fire_once_and_not_for_runs_that_moved_on(
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
        name=f"slow-{unique}",
        events=["run_long_running", "run_queued_long"],
        thresholds={"run_long_running_s": 2, "run_queued_s": 2},
        filters={"locations": [loaded_location]},
        channels=[webhook.channel()],
    )
    # The run queue holds runs tagged slot=<unique> one at a time: the second one waits for the first.
    assert api.put(f"/api/limits/tag:slot={unique}", json={"max_concurrent": 1}).status_code == 200
    holder = launch(tags={"slot": unique})
    report_run(agent_api, holder["id"], "STARTING", 1)
    queued = launch(tags={"slot": unique})
    running = launch()
    report_run(agent_api, running["id"], "STARTING", 1)
    report_run(agent_api, running["id"], "STARTED", 2)
    quick = launch()
    report_run(agent_api, quick["id"], "STARTING", 1)
    report_run(agent_api, quick["id"], "STARTED", 2)
    report_run(agent_api, quick["id"], "SUCCESS", 3)  # finished within the threshold: no alert

    wait_until(lambda: len(webhook.hooks) >= 2, 15, "the queued and the long-running alerts")
    time.sleep(3)  # past every threshold again: nothing more
    assert _kinds(webhook) == sorted([("run_queued_long", queued["id"]), ("run_long_running", running["id"])])
    assert all(hook.verified for hook in webhook.hooks)
    waiting = next(hook.json for hook in webhook.hooks if hook.json["event"]["kind"] == "run_queued_long")
    assert waiting["title"] == f"Run {queued['id']} of {loaded_location}/noop has been queued for more than 2 s"
    assert (
        waiting["event"]["reason"] == f"waiting: tag slot={unique} 1/1 in use; 0 runs ahead (place 1 in the run queue)"
    )
    api.delete(f"/api/limits/tag:slot={unique}")
    skipped: dict[str, set[str]] = {}
    for record in history(api, policy=f"slow-{unique}"):
        if record["outcome"] == "skipped":
            skipped.setdefault(record["subject"], set()).add(record["error"].split(" (")[0])
    assert skipped == {
        holder["id"]: {"the run left the queue"},
        quick["id"]: {"the run left the queue", "the run finished"},
        running["id"]: {"the run left the queue"},
    }
    # One fired record per alert: a run is "long-running" once, whatever happens to it afterwards.
    fired = [r for r in history(api, policy=f"slow-{unique}") if r["outcome"] == "fired"]
    assert len(fired) == 2
    # A delivery that waited on its timer, and one that found its condition over, replay on the current code.
    replay(temporal_server.address, f"alert:slow-{unique}:run-long:{running['id']}")
    replay(temporal_server.address, f"alert:slow-{unique}:run-long:{quick['id']}")


def test_a_location_down_longer_than_its_threshold_alerts_then_says_it_recovered(
    api: httpx.Client,
    agent_api: httpx.Client,
    webhook: WebhookReceiver,
    add_policy: Callable[..., dict[str, Any]],
    loaded_location: str,
    unique: str,
):
    add_policy(
        name=f"loc-{unique}",
        events=["location_unhealthy"],
        thresholds={"location_unhealthy_s": 1.5},
        filters={"locations": [loaded_location]},
        channels=[webhook.channel()],
    )
    url = f"/api/agent/locations/{loaded_location}/report"

    def report(status: str, seq: int, message: str = "") -> None:
        body = {"name": loaded_location, "status": status, "generation": 1, "seq": seq, "message": message}
        assert agent_api.put(url, json=body).json() == {"applied": True}

    # A blip shorter than the threshold: neither "down" nor "recovered".
    report("UNHEALTHY", 2, "health probe failed 3 times")
    report("LOADED", 3)
    time.sleep(2.5)
    assert webhook.hooks == []
    # Down for longer: one alert with the reason, then one recovery.
    report("ERROR", 4, "code server exited with code 1: ImportError: no module named sales")
    wait_until(lambda: webhook.hooks, 10, "the location alert")
    down = webhook.hooks[0].json
    assert down["event"]["kind"] == "location_unhealthy"
    assert down["title"] == f"Code location {loaded_location} is ERROR for more than 1.5 s"
    assert "ImportError: no module named sales" in down["event"]["reason"]
    assert down["links"]["temporal"].endswith(f"location%3A{loaded_location}")
    report("UNHEALTHY", 5, "still failing")  # still down: the same episode
    report("LOADED", 6)
    wait_until(lambda: len(webhook.hooks) >= 2, 10, "the recovery")
    time.sleep(2)
    assert [hook.json["event"]["kind"] for hook in webhook.hooks] == ["location_unhealthy", "location_recovered"]


def test_filters_keep_out_other_jobs_tags_and_locations(
    api: httpx.Client,
    agent_api: httpx.Client,
    webhook: WebhookReceiver,
    add_policy: Callable[..., dict[str, Any]],
    loaded_location: str,
    launch: Callable[..., dict[str, Any]],
    unique: str,
):
    add_policy(
        name=f"filtered-{unique}",
        events=["run_failure", "location_unhealthy"],
        thresholds={"location_unhealthy_s": 0},
        filters={"locations": [f"loc-{unique}*"], "jobs": ["greet"], "tags": {"team": "data"}},
        channels=[webhook.channel()],
    )
    add_policy(
        name=f"elsewhere-{unique}",
        events=["run_failure"],
        filters={"locations": ["some-other-location"]},
        channels=[webhook.channel("other")],
    )
    other_job = launch("noop", tags={"team": "data"})
    other_tag = launch("greet", config={"name": "x"}, tags={"team": "ml"})
    untagged = launch("greet", config={"name": "x"})
    wanted = launch("greet", config={"name": "x"}, tags={"team": "data", "env": "prod"})
    for seq, run in enumerate((other_job, other_tag, untagged, wanted), start=1):
        report_run(agent_api, run["id"], "FAILURE", seq, "job failed (exit code 1)")
    # A policy with job or tag filters is about runs: a location going down is not for it.
    body = {"name": loaded_location, "status": "ERROR", "generation": 1, "seq": 2, "message": "crashed"}
    assert agent_api.put(f"/api/agent/locations/{loaded_location}/report", json=body).json() == {"applied": True}
    wait_until(lambda: webhook.hooks, 10, "the one matching alert")
    time.sleep(2)
    assert [(hook.path, hook.json["event"]["subject"]) for hook in webhook.hooks] == [("/hooks/alerts", wanted["id"])]
    assert [r["subject"] for r in history(api, policy=f"elsewhere-{unique}")] == []


def test_a_schedule_alerts_when_its_ticks_start_failing_not_on_every_failed_tick(
    api: httpx.Client,
    agent_api: httpx.Client,
    webhook: WebhookReceiver,
    add_policy: Callable[..., dict[str, Any]],
    unique: str,
    queue: str,
):
    name = f"auto-{unique}"
    assert api.post("/api/locations", json=location_spec(name, queue)).status_code == 201
    schedule = {"name": "hourly", "job": "greet", "cron": "0 * * * *", "config": {"name": "cron"}}
    report = {"name": name, "status": "LOADED", "generation": 1, "seq": 1}
    report["definitions"] = {"jobs": JOBS, "schedules": [schedule]}
    assert agent_api.put(f"/api/agent/locations/{name}/report", json=report).json() == {"applied": True}
    add_policy(
        name=f"ticks-{unique}",
        events=["tick_failure"],
        filters={"locations": [name]},
        channels=[webhook.channel()],
    )
    outcomes = ["SUCCESS", "FAILURE", "FAILURE", "FAILURE", "SUCCESS", "FAILURE"]
    for number, outcome in enumerate(outcomes, start=1):
        tick = {"tick_id": f"tick:{name}:hourly-{number}", "kind": "schedule", "outcome": outcome}
        if outcome == "FAILURE":
            tick["reason"] = f"evaluation failed: KeyError: 'date' (tick {number})"
        path = f"/api/agent/automations/{name}/hourly/ticks/{tick['tick_id']}"
        assert agent_api.put(path, json=tick).json() == {"applied": True}
    wait_until(lambda: len(webhook.hooks) >= 2, 10, "two tick alerts")
    time.sleep(1.5)
    alerts = [hook.json for hook in webhook.hooks]
    assert sorted(a["event"]["reason"] for a in alerts) == [
        "evaluation failed: KeyError: 'date' (tick 2)",
        "evaluation failed: KeyError: 'date' (tick 6)",
    ]
    assert alerts[0]["title"] == f"Schedule {name}/hourly started failing"
    assert alerts[0]["links"]["automation"] == f"{PUBLIC_URL}/automations/{name}/hourly"
