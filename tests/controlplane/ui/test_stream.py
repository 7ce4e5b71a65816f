"""The run page's live stream (server-sent events) read as a script would: every log line and event in order,
the status, then `end`; an attempt longer than `tail` is cut at the front, saying how much; a reconnect resumes."""

from __future__ import annotations

import json

import httpx

from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack


def read_stream(control_plane: ControlPlane, run_id: str, **params: int | str) -> list[tuple[str, dict, str]]:
    """(event, data, id) of every message of a finished run's stream, up to `end`."""
    headers = {"Authorization": f"Bearer {control_plane.admin_token}"}
    last_id = params.pop("last_event_id", None)
    if last_id:
        headers["Last-Event-ID"] = str(last_id)
    messages = []
    url = f"{control_plane.url}/ui/runs/{run_id}/stream"
    with httpx.stream("GET", url, params=params, headers=headers, timeout=30.0) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line:
                key, _, value = line.partition(": ")
                fields[key] = value
                continue
            if "event" in fields:
                messages.append((fields["event"], json.loads(fields["data"]), fields["id"]))
            fields = {}
    return messages


def test_a_finished_run_streams_its_lines_events_and_end(control_plane: ControlPlane, ui_stack: Stack) -> None:
    run_id = ui_stack.launch("sleepy", {"seconds": 3})
    ui_stack.wait_run(run_id, {"SUCCESS"})

    whole = read_stream(control_plane, run_id)
    lines = [data["line"] for kind, data, _ in whole if kind == "log"]
    assert lines == ["sleepy: 1/3 s", "sleepy: 2/3 s", "sleepy: 3/3 s"]
    assert [data["type"] for kind, data, _ in whole if kind == "event"][:2] == ["RUN_START", "JOB_START"]
    assert whole[-1][0] == "end" and whole[-1][1]["status"] == "SUCCESS"

    cut = read_stream(control_plane, run_id, tail=1)
    assert [(kind, data) for kind, data, _ in cut[:1]] == [("skipped", {"attempt": 1, "lines": 2})]
    assert [data["line"] for kind, data, _ in cut if kind == "log"] == ["sleepy: 3/3 s"]

    first_line_id = next(message_id for kind, _, message_id in whole if kind == "log")
    resumed = read_stream(control_plane, run_id, last_event_id=first_line_id)
    assert [data["line"] for kind, data, _ in resumed if kind == "log"] == ["sleepy: 2/3 s", "sleepy: 3/3 s"]
    missing = httpx.get(
        f"{control_plane.url}/ui/runs/nope/stream", headers={"Authorization": f"Bearer {control_plane.admin_token}"}
    )
    assert missing.status_code == 404
