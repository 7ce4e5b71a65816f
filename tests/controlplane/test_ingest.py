"""Run-worker ingest of events and logs: idempotent on (run, attempt, seq), ordered reads, run-scoped tokens."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.control_plane import ControlPlane

Launch = Callable[..., dict[str, Any]]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def events(seqs: range, attempt: int = 1) -> dict[str, Any]:
    """An EventBatch body."""
    return {
        "events": [
            {
                "seq": s,
                "time": (T0 + timedelta(seconds=s)).isoformat(),
                "type": "LOG",
                "message": f"e{s}",
                "attempt": attempt,
            }
            for s in seqs
        ]
    }


def lines(seqs: range, stream: str = "stdout") -> dict[str, Any]:
    """A LogBatch body."""
    return {
        "lines": [
            {"seq": s, "time": (T0 + timedelta(seconds=s)).isoformat(), "stream": stream, "line": f"line {s}"}
            for s in seqs
        ]
    }


@pytest.fixture
def run_client(control_plane: ControlPlane, agent_api: httpx.Client, launch: Launch) -> Iterator[httpx.Client]:
    """A client holding a run token (obtained the agent's way) for a freshly launched run; `.run_id` names it."""
    run_id = launch()["id"]
    response = agent_api.post(f"/api/agent/runs/{run_id}/token", json={"attempt": 1})
    assert response.status_code == 200
    with control_plane.client(response.json()["token"]) as client:
        client.run_id = run_id  # type: ignore[attr-defined]
        yield client


def test_same_event_batch_twice_is_stored_once(api: httpx.Client, run_client: httpx.Client):
    run_id = run_client.run_id  # type: ignore[attr-defined]
    url = f"/api/runs/{run_id}/events"

    first = run_client.post(url, json=events(range(1, 501)))
    again = run_client.post(url, json=events(range(1, 501)))
    overlap = run_client.post(url, json=events(range(491, 511)))

    assert first.json() == {"accepted": 500, "duplicates": 0}
    assert again.json() == {"accepted": 0, "duplicates": 500}
    assert overlap.json() == {"accepted": 10, "duplicates": 10}
    stored = api.get(url).json()["events"]
    assert [e["seq"] for e in stored] == list(range(1, 511))
    assert stored[0] == {"seq": 1, "time": "2026-01-01T00:00:01Z", "type": "LOG", "message": "e1", "attempt": 1}


def test_text_no_database_can_hold_is_kept_with_replacement_characters(api: httpx.Client, run_client: httpx.Client):
    # PostgreSQL's text cannot hold NUL: U+FFFD instead, on every database.
    run_id = run_client.run_id  # type: ignore[attr-defined]
    batch = events(range(1, 3))
    batch["events"][0]["message"], batch["events"][1]["message"] = "bin\x00ary", "\x00"
    log = lines(range(1, 2))
    log["lines"][0]["line"] = "nul\x00"
    headers = {"Content-Type": "application/json"}

    for path, body in (("events", batch), ("logs", log)):
        # json.dumps writes \u0000, as a run worker's JSON does.
        answer = run_client.post(f"/api/runs/{run_id}/{path}", content=json.dumps(body), headers=headers)
        assert answer.status_code == 200, answer.text

    stored = api.get(f"/api/runs/{run_id}/events").json()["events"]
    assert [e["message"] for e in stored] == ["bin\ufffdary", "\ufffd"]
    assert [x["line"] for x in api.get(f"/api/runs/{run_id}/logs").json()["lines"]] == ["nul\ufffd"]
    again = run_client.post(f"/api/runs/{run_id}/events", content=json.dumps(batch), headers=headers)
    assert again.json() == {"accepted": 0, "duplicates": 2}


def test_events_are_read_in_order_after_a_seq_and_per_attempt(api: httpx.Client, run_client: httpx.Client):
    run_id = run_client.run_id  # type: ignore[attr-defined]
    url = f"/api/runs/{run_id}/events"
    run_client.post(url, json=events(range(4, 7)))
    run_client.post(url, json=events(range(1, 4)))
    # A second attempt numbers its events from 1 again; they are distinct from the first attempt's.
    assert run_client.post(url, json=events(range(1, 3), attempt=2)).json() == {"accepted": 2, "duplicates": 0}

    everything = api.get(url).json()["events"]
    after_four = api.get(url, params={"after_seq": 4}).json()["events"]
    second = api.get(url, params={"attempt": 2}).json()["events"]

    assert [(e["attempt"], e["seq"]) for e in everything] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (1, 4),
        (1, 5),
        (1, 6),
        (2, 1),
        (2, 2),
    ]
    assert [(e["attempt"], e["seq"]) for e in after_four] == [(1, 5), (1, 6)]
    assert [(e["attempt"], e["seq"]) for e in second] == [(2, 1), (2, 2)]


def test_log_lines_are_idempotent_too(api: httpx.Client, run_client: httpx.Client):
    run_id = run_client.run_id  # type: ignore[attr-defined]
    url = f"/api/runs/{run_id}/logs"

    first = run_client.post(url, json=lines(range(1, 4)))
    again = run_client.post(url, json=lines(range(2, 6), stream="stderr"))

    assert first.json() == {"accepted": 3, "duplicates": 0}
    assert again.json() == {"accepted": 2, "duplicates": 2}
    stored = api.get(url).json()["lines"]
    assert [(x["seq"], x["stream"], x["line"]) for x in stored] == [
        (1, "stdout", "line 1"),
        (2, "stdout", "line 2"),
        (3, "stdout", "line 3"),
        (4, "stderr", "line 4"),
        (5, "stderr", "line 5"),
    ]


def test_invalid_batch_is_422_and_stores_nothing(api: httpx.Client, run_client: httpx.Client):
    run_id = run_client.run_id  # type: ignore[attr-defined]
    batch = events(range(1, 4))
    batch["events"][2]["seq"] = 0

    response = run_client.post(f"/api/runs/{run_id}/events", json=batch)

    assert response.status_code == 422
    assert "events[2].seq" in response.json()["detail"]
    assert api.get(f"/api/runs/{run_id}/events").json() == {"events": []}


def test_run_token_works_only_for_its_own_run(
    control_plane: ControlPlane, api: httpx.Client, run_client: httpx.Client, launch: Launch
):
    own = run_client.run_id  # type: ignore[attr-defined]
    other = launch()["id"]

    assert run_client.post(f"/api/runs/{own}/events", json=events(range(1, 2))).status_code == 200
    assert run_client.post(f"/api/runs/{own}/logs", json=lines(range(1, 2))).status_code == 200
    forbidden = run_client.post(f"/api/runs/{other}/events", json=events(range(1, 2)))
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "this run token belongs to another run"}
    assert run_client.post(f"/api/runs/{other}/logs", json=lines(range(1, 2))).status_code == 403
    # Reading, launching and agent endpoints are not for run tokens either.
    assert run_client.get(f"/api/runs/{own}/events").status_code == 403
    assert run_client.post("/api/runs", json={"location": "x", "job": "y"}).status_code == 403
    assert run_client.put(f"/api/agent/runs/{own}/report", json={}).status_code == 403
    assert api.get(f"/api/runs/{other}/events").json() == {"events": []}


def test_admin_may_post_events_and_unknown_runs_are_404(api: httpx.Client, run_client: httpx.Client):
    run_id = run_client.run_id  # type: ignore[attr-defined]

    assert api.post(f"/api/runs/{run_id}/events", json=events(range(1, 3))).json() == {"accepted": 2, "duplicates": 0}
    assert api.post("/api/runs/nope/events", json=events(range(1, 3))).status_code == 404
    assert api.get("/api/runs/nope/logs").status_code == 404


def test_run_token_for_unknown_run_is_404(agent_api: httpx.Client):
    assert agent_api.post("/api/agent/runs/nope/token", json={"attempt": 1}).status_code == 404


def test_a_run_start_event_marks_when_the_run_started(api: httpx.Client, run_client: httpx.Client):
    # A job that ends while the agent's launch watches it gets no STARTED report: its own RUN_START says it ran.
    run_id = run_client.run_id  # type: ignore[attr-defined]
    url = f"/api/runs/{run_id}/events"
    run_client.post(url, json=events(range(1, 2)))
    assert api.get(f"/api/runs/{run_id}").json()["started_at"] is None  # other events say nothing about it

    start = events(range(2, 3))
    start["events"][0]["type"] = "RUN_START"
    run_client.post(url, json=start)
    first = api.get(f"/api/runs/{run_id}").json()["started_at"]
    assert first is not None
    start["events"][0]["seq"] = 3  # a later attempt's start does not move it
    run_client.post(url, json=start)
    assert api.get(f"/api/runs/{run_id}").json()["started_at"] == first
