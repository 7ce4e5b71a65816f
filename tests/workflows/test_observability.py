"""Metrics and structured logs: the agent's and the control plane's /metrics move, and every line of the
agent's run/location work says which run or location it is about (JSON log format)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from longshoreman.dev.temporal_server import TemporalDevServer, free_port
from tests.support.agent import AgentProcess, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus endpoint: (name, labels) -> value."""
    text = httpx.get(url, timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (0 if absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def observed(
    temporal_server: TemporalDevServer, control_plane: ControlPlane, agent_token: str, unique: str, tmp_path: Path
) -> Iterator[tuple[Stack, str]]:
    """An agent with /metrics on a free port and JSON logs; yields the stack and the agent's metrics URL."""
    port = free_port()
    agent = AgentProcess(
        temporal_address=temporal_server.address,
        control_plane_url=control_plane.url,
        agent_token=agent_token,
        task_queue=f"queue-{unique}",
        state_dir=tmp_path / "agent-state",
        log_file=tmp_path / "agent.log",
        extra_env={"LONGSHOREMAN_METRICS_ADDRESS": f"127.0.0.1:{port}", "LONGSHOREMAN_LOG_FORMAT": "json"},
    ).start()
    try:
        with control_plane.client() as client:
            stack = Stack(client=client, agent=agent, queue=agent.task_queue, prefix=unique[:6])
            yield stack, f"http://127.0.0.1:{port}/metrics"
            stack.remove_all()
    finally:
        agent.stop()
        agent.kill_leftovers()


def test_metrics_move_and_logs_name_their_run_and_location(
    observed: tuple[Stack, str], control_plane: ControlPlane
) -> None:
    stack, agent_metrics = observed
    cp_before = scrape(f"{control_plane.url}/metrics")
    location = stack.add_location(stack.spec())
    name = location["name"]
    run_id = stack.launch("greet", {"name": "metrics"})
    assert stack.wait_run(run_id)["status"] == "SUCCESS"

    agent = scrape(agent_metrics)
    assert value(agent, "longshoreman_runs_launched_total", launcher="process") == 1
    assert value(agent, "longshoreman_run_launch_latency_seconds_count", launcher="process") == 1
    wait_for(
        lambda: value(scrape(agent_metrics), "longshoreman_runs_finished_total", status="SUCCESS") == 1,
        10,
        "the finished run to be counted",
    )
    # The Temporal SDK's runtime metrics come through the same endpoint (the workflow completes just after).
    wait_for(
        lambda: any(metric == "temporal_workflow_completed_total" for metric, _ in scrape(agent_metrics)),
        10,
        "the SDK's workflow metrics",
    )

    # A hung code server fails its health checks; killed, it is restarted.
    pid = stack.server_pid(location["server"])
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(
            lambda: value(scrape(agent_metrics), "longshoreman_health_check_failures_total", location=name) >= 1,
            15,
            "a failed health check to be counted",
        )
    finally:
        os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: value(scrape(agent_metrics), "longshoreman_code_server_restarts_total", location=name) == 1,
        15,
        "the restart to be counted",
    )

    cp_after = scrape(f"{control_plane.url}/metrics")
    ingested = ("longshoreman_ingested_items_total", "event", "accepted")
    assert value(cp_after, ingested[0], kind="event", result="accepted") > value(
        cp_before, ingested[0], kind="event", result="accepted"
    )
    route = {"method": "GET", "route": "/api/runs/{run_id}", "status": "200"}
    assert value(cp_after, "longshoreman_http_requests_total", **route) > value(
        cp_before, "longshoreman_http_requests_total", **route
    )
    reports = {"kind": "run", "status": "SUCCESS", "applied": "true"}
    assert value(cp_after, "longshoreman_agent_reports_total", **reports) >= 1

    # JSON logs: every line is one object; run and location work is labelled with its run id or location.
    lines = [line for line in stack.agent.log_file.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    launched = [r for r in records if "launched" in r["message"] and r.get("run_id") == run_id]
    assert launched and launched[0]["location"] == name and launched[0]["activity"] == "start_run_worker"
    about_location = [r for r in records if r.get("location") == name and "UNHEALTHY" in r["message"]]
    assert about_location, records[-5:]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
