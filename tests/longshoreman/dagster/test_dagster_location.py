"""A Dagster project as a code location, end to end: the real agent, control plane and Temporal dev server, the
code server and run workers running real dagster on examples/dagster_etl (tested with dagster 1.13)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from tests.support.agent import get_json, wait_for
from tests.support.stack import Stack

ETL = "examples.dagster_etl.definitions"


def add_etl(stack: Stack, **env: str) -> dict[str, Any]:
    """Add examples/dagster_etl as a Dagster location and wait until it is LOADED."""
    return stack.add_location(stack.spec("etl", module=ETL, framework="dagster", env=env, startup_timeout_s=60))


def dagster_events(stack: Stack, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The run's Dagster events (type, decoded message), in order."""
    return [
        (event["type"], json.loads(event["message"]))
        for event in stack.events(run_id)
        if event["type"].startswith(("STEP_", "ASSET_"))
    ]


def test_a_dagster_project_loads_and_an_asset_job_streams_its_events(stack: Stack):
    view = add_etl(stack)

    definitions = view["definitions"]
    assert definitions["framework"] == "dagster"
    assets = {asset["key"]: asset for asset in definitions["assets"]}
    assert set(assets) == {"raw_orders", "order_totals", "broken_asset", "daily_report"}
    assert assets["order_totals"]["deps"] == ["raw_orders"]
    assert assets["order_totals"]["checks"] == ["total_is_positive"]
    assert assets["raw_orders"] | {"deps": []} == {
        "key": "raw_orders",
        "group": "etl",
        "deps": [],
        "description": "Raw orders, as extracted.",
        "owners": ["team:data"],
        "kinds": ["python"],
        "partitioned": False,
        "checks": [],
    }
    jobs = {job["name"]: job for job in definitions["jobs"]}
    assert {"etl_job", "broken_job", "daily_job", "greet_job", "slow_job"} <= set(jobs)
    assert definitions["asset_job"] in jobs
    assert jobs["etl_job"]["assets"] == ["order_totals", "raw_orders"]
    assert jobs["daily_job"]["partition_keys"] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    greet_config = jobs["greet_job"]["config_schema"]["properties"]["ops"]["properties"]["say_hello"]
    assert greet_config["properties"]["config"]["required"] == ["name"]
    [schedule] = definitions["schedules"]
    assert (schedule["name"], schedule["job"], schedule["cron"], schedule["timezone"]) == (
        "morning_etl",
        "etl_job",
        "0 6 * * *",
        "Europe/Paris",
    )
    [sensor] = definitions["sensors"]
    assert (sensor["name"], sensor["job"], sensor["minimum_interval_s"]) == ("inbox_sensor", "greet_job", 1.0)

    run_id = stack.launch("etl_job", location="etl")
    run = stack.wait_run(run_id, timeout_s=60)

    assert run["status"] == "SUCCESS", run["reason"]
    types = [event["type"] for event in stack.events(run_id)]
    assert types[:2] == ["RUN_START", "JOB_START"] and types[-1] == "JOB_SUCCESS"
    steps = [(kind, body.get("step"), body.get("asset")) for kind, body in dagster_events(stack, run_id)]
    assert [s for s in steps if s[0] != "ASSET_CHECK_EVALUATION"] == [
        ("STEP_START", "raw_orders", None),
        ("ASSET_MATERIALIZATION", "raw_orders", "raw_orders"),
        ("STEP_SUCCESS", "raw_orders", None),
        ("STEP_START", "order_totals", None),
        ("ASSET_MATERIALIZATION", "order_totals", "order_totals"),
        ("STEP_SUCCESS", "order_totals", None),
        ("STEP_START", "order_totals_total_is_positive", None),
        ("STEP_SUCCESS", "order_totals_total_is_positive", None),
    ]
    bodies = dict(((kind, body.get("asset")), body) for kind, body in dagster_events(stack, run_id))
    assert bodies["ASSET_MATERIALIZATION", "raw_orders"]["metadata"] == {"rows": 5, "source": "inline"}
    check = bodies["ASSET_CHECK_EVALUATION", "order_totals"]
    assert (check["check"], check["passed"], check["metadata"]) == ("total_is_positive", True, {"checked": "total > 0"})
    logs = stack.logs(run_id)
    assert "extracted 5 orders" in logs and "total amount 150" in logs


def test_launches_are_checked_and_run_by_dagster_failures_name_the_step(stack: Stack):
    add_etl(stack)

    failed = stack.wait_run(stack.launch("broken_job", location="etl"), timeout_s=60)
    assert failed["status"] == "FAILURE"
    assert "step 'broken_asset' failed: ValueError: boom: the broken asset failed on purpose" in failed["reason"]
    [(_, body)] = [e for e in dagster_events(stack, failed["id"]) if e[0] == "STEP_FAILURE"]
    assert body["error"] == "ValueError: boom: the broken asset failed on purpose"
    assert 'raise ValueError("boom: the broken asset failed on purpose")' in body["traceback"]

    location = f"etl-{stack.prefix}"
    refused = stack.client.post("/api/runs", json={"location": location, "job": "greet_job", "config": {}})
    assert refused.status_code == 422 and "'ops' is a required property" in refused.json()["detail"], refused.text
    wrong = {"ops": {"say_hello": {"config": {"name": "docks", "volume": 11}}}}
    refused = stack.client.post("/api/runs", json={"location": location, "job": "greet_job", "config": wrong})
    assert refused.status_code == 422 and "'volume' was unexpected" in refused.json()["detail"], refused.text
    config = {"ops": {"say_hello": {"config": {"name": "docks", "times": 2}}}}
    greeted = stack.wait_run(stack.launch("greet_job", config, location="etl"), timeout_s=60)
    assert greeted["status"] == "SUCCESS", greeted["reason"]
    assert stack.logs(greeted["id"]).count("hello, docks") == 2 and "DOCKS" in stack.logs(greeted["id"])

    selected = stack.wait_run(stack.launch("", location="etl", assets=["raw_orders"]), timeout_s=60)
    assert selected["status"] == "SUCCESS", selected["reason"]
    materialized = [b["asset"] for k, b in dagster_events(stack, selected["id"]) if k == "ASSET_MATERIALIZATION"]
    assert materialized == ["raw_orders"]
    refused = stack.client.post("/api/runs", json={"location": location, "job": "etl_job", "assets": ["nope"]})
    assert refused.status_code == 422 and "does not materialize nope" in refused.json()["detail"], refused.text

    daily = stack.wait_run(stack.launch("daily_job", location="etl", partition="2026-01-02"), timeout_s=60)
    assert daily["status"] == "SUCCESS", daily["reason"]
    [(_, body)] = [e for e in dagster_events(stack, daily["id"]) if e[0] == "ASSET_MATERIALIZATION"]
    assert (body["asset"], body["partition"], body["metadata"]) == ("daily_report", "2026-01-02", {"day": "2026-01-02"})
    for job, partition, message in (
        ("daily_job", "2025-12-31", "has no partition"),
        ("etl_job", "x", "not partitioned"),
    ):
        body = {"location": location, "job": job, "partition": partition}
        refused = stack.client.post("/api/runs", json=body)
        assert refused.status_code == 422 and message in refused.json()["detail"], refused.text


def test_a_dagster_sensor_launches_one_run_per_run_key_and_a_schedule_ticks(stack: Stack, tmp_path: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    add_etl(stack, DAGSTER_ETL_INBOX=str(inbox))
    location = f"etl-{stack.prefix}"
    started = stack.client.post(f"/api/automations/{location}/inbox_sensor/start")
    assert started.status_code == 200, started.text
    (inbox / "a.json").write_text(json.dumps({"name": "ann"}))
    (inbox / "b.json").write_text(json.dumps({"name": "bob"}))

    def sensor_runs() -> list[dict[str, Any]]:
        return list(get_json(stack.client, f"/api/runs?location={location}&job=greet_job")["runs"])

    runs = wait_for(lambda: found if len(found := sensor_runs()) >= 2 else None, 30, "two sensor runs")
    ticks = get_json(stack.client, f"/api/automations/{location}/inbox_sensor/ticks")["ticks"]
    wait_for(
        lambda: len(get_json(stack.client, f"/api/automations/{location}/inbox_sensor/ticks")["ticks"]) > len(ticks),
        30,
        "a later tick",
    )
    assert sorted(run["tags"]["file"] for run in sensor_runs()) == ["a.json", "b.json"]  # once each, by run key
    assert json.loads(get_json(stack.client, f"/api/automations/{location}/inbox_sensor")["cursor"]) == [
        "a.json",
        "b.json",
    ]
    for run in runs:
        finished = stack.wait_run(run["id"], timeout_s=60)
        assert finished["status"] == "SUCCESS", finished["reason"]
    greeted = {line for run in runs for line in stack.logs(run["id"]) if line.startswith("hello, ")}
    assert greeted == {"hello, ann", "hello, bob"}

    ticked = stack.client.post(f"/api/automations/{location}/morning_etl/run-now")
    assert ticked.status_code == 202, ticked.text

    def schedule_run() -> dict[str, Any] | None:
        found = get_json(stack.client, f"/api/runs?location={location}&job=etl_job")["runs"]
        return found[0] if found else None

    run = wait_for(schedule_run, 30, "the schedule's run")
    assert run["tags"]["dagster/schedule_name"] == "morning_etl" and "scheduled_for" in run["tags"]
    assert stack.wait_run(run["id"], timeout_s=60)["status"] == "SUCCESS"


def test_a_canceled_dagster_run_stops_mid_step(stack: Stack):
    add_etl(stack)
    run_id = stack.launch("slow_job", {"ops": {"nap": {"config": {"seconds": 60.0}}}}, location="etl")
    wait_for(lambda: any(line.startswith("napping 2/") for line in stack.logs(run_id)), 60, "the nap going on")

    canceled = stack.client.post(f"/api/runs/{run_id}/cancel")
    assert canceled.status_code == 202, canceled.text
    run = stack.wait_run(run_id, timeout_s=30)

    assert run["status"] == "CANCELED", run["reason"]
    types = [event["type"] for event in stack.events(run_id)]
    assert "STEP_START" in types and "STEP_SUCCESS" not in types and types[-1] == "JOB_CANCELED"


def test_a_broken_dagster_project_reports_the_users_traceback(stack: Stack, tmp_path: Path):
    (tmp_path / "broken_defs.py").write_text(
        textwrap.dedent(
            """
            import dagster as dg

            def rows():
                raise RuntimeError("cannot reach the warehouse")

            ROWS = rows()
            defs = dg.Definitions()
            """
        )
    )
    spec = stack.spec("broken", module="broken_defs", framework="dagster", working_dir=str(tmp_path))
    spec["supervision"] = {"backoff_initial_s": 30}
    stack.add_location(spec, wait_loaded=False)

    view = stack.wait_location(spec["name"], {"ERROR", "UNHEALTHY"}, timeout_s=60)

    assert "RuntimeError: cannot reach the warehouse" in view["message"], view["message"]
    assert 'raise RuntimeError("cannot reach the warehouse")' in view["message"], view["message"]


# The translated JSON schema lets 2.0 through as an integer; Dagster's Int refuses it.
FLOAT_TIMES = {"ops": {"say_hello": {"config": {"name": "docks", "times": 2.0}}}}
DAGSTER_REFUSAL = (
    "config is not valid for job 'greet_job': Invalid scalar at path root:ops:say_hello:config:times. "
    'Value "2.0" of type "<class \'float\'>" is not valid for expected type "Int".'
)


def run_ids(stack: Stack, location: str) -> list[str]:
    """The ids of every run of the location."""
    return [run["id"] for run in get_json(stack.client, f"/api/runs?location={location}")["runs"]]


def test_dagster_checks_the_config_at_launch_and_an_agentless_launch_goes_on(stack: Stack):
    add_etl(stack)
    location = f"etl-{stack.prefix}"
    body = {"location": location, "job": "greet_job", "config": FLOAT_TIMES, "idempotency_key": f"k-{stack.prefix}"}

    refused = stack.client.post("/api/runs", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == DAGSTER_REFUSAL
    assert run_ids(stack, location) == []

    # The refused launch stored nothing under its key: the corrected one creates the run, a repeat finds it.
    fixed = body | {"config": {"ops": {"say_hello": {"config": {"name": "docks", "times": 2}}}}}
    created = stack.client.post("/api/runs", json=fixed)
    repeated = stack.client.post("/api/runs", json=fixed)
    assert created.status_code == 201 and repeated.status_code == 200, (created.text, repeated.text)
    run_id = created.json()["run"]["id"]
    assert repeated.json()["run"]["id"] == run_id
    assert stack.wait_run(run_id, timeout_s=60)["status"] == "SUCCESS"
    assert run_ids(stack, location) == [run_id]

    # No agent to ask: the launch is not held up for good; the run worker refuses the config once an agent is back.
    stack.agent.stop()
    unchecked = stack.client.post("/api/runs", json={"location": location, "job": "greet_job", "config": FLOAT_TIMES})
    assert unchecked.status_code == 201, unchecked.text
    stack.agent.start()
    failed = stack.wait_run(unchecked.json()["run"]["id"], timeout_s=60)
    assert failed["status"] == "FAILURE"
    assert 'Value "2.0" of type "<class \'float\'>" is not valid for expected type "Int"' in failed["reason"]
