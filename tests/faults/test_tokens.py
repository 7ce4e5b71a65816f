"""Abuse of tokens: expired, revoked, wrong scope → 401/403; stored hashed; a run token cannot touch another run."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.control_plane import ControlPlane
from tests.support.faults.pretend_agent import loaded_location, report_run, run_with_token


@pytest.fixture(scope="module")
def strict_agent_token(strict_plane: ControlPlane) -> str:
    """An agent token of the strict control plane."""
    return strict_plane.create_agent_token("tokens-test")


def event(seq: int) -> dict[str, object]:
    return {"seq": seq, "time": datetime.now(UTC).isoformat(), "type": "NOTE", "message": "hi"}


def test_a_revoked_token_is_refused_at_once(strict_plane: ControlPlane, unique: str) -> None:
    with strict_plane.client() as admin:
        created = admin.post("/api/tokens", json={"kind": "admin", "name": f"ops-{unique}"}).json()
        with strict_plane.client(created["token"]) as ops:
            assert ops.get("/api/locations").status_code == 200

            assert admin.delete(f"/api/tokens/{created['id']}").status_code == 204

            refused = ops.get("/api/locations")
            assert refused.status_code == 401 and refused.json() == {"detail": "token revoked"}
        listed = {t["id"]: t for t in admin.get("/api/tokens").json()["tokens"]}
        assert listed[created["id"]]["revoked_at"] is not None
        assert "token" not in listed[created["id"]], "a listing never shows a secret"
        assert admin.delete(f"/api/tokens/{created['id']}").status_code == 204  # idempotent
        assert admin.delete("/api/tokens/no-such-token").status_code == 404


def test_an_expired_token_is_refused(strict_plane: ControlPlane, unique: str) -> None:
    with strict_plane.client() as admin:
        created = admin.post("/api/tokens", json={"kind": "agent", "name": f"short-{unique}", "expires_in_s": 1})
        assert created.status_code == 201 and created.json()["expires_at"], created.text
        secret = created.json()["token"]
    with strict_plane.client(secret) as agent:
        assert (
            agent.put("/api/agent/runs/none/report", json={"run_id": "none", "status": "STARTED", "seq": 1}).status_code
            == 404
        )
        time.sleep(1.2)
        refused = agent.put("/api/agent/runs/none/report", json={"run_id": "none", "status": "STARTED", "seq": 1})
        assert refused.status_code == 401 and refused.json() == {"detail": "token expired"}


def test_a_run_token_expires_after_its_run_finished(
    strict_plane: ControlPlane, strict_agent_token: str, unique: str
) -> None:
    location = loaded_location(strict_plane, strict_agent_token, f"tok-{unique}")
    run_id, token = run_with_token(strict_plane, strict_agent_token, location)
    with strict_plane.client(token) as worker:
        assert worker.post(f"/api/runs/{run_id}/events", json={"events": [event(1)]}).status_code == 200
        report_run(strict_plane, strict_agent_token, run_id, "SUCCESS", seq=1)
        # Still good for the grace period (late events of a finishing worker), then refused.
        assert worker.post(f"/api/runs/{run_id}/events", json={"events": [event(2)]}).status_code == 200
        time.sleep(1.2)
        refused = worker.post(f"/api/runs/{run_id}/events", json={"events": [event(3)]})
        assert refused.status_code == 401 and refused.json() == {"detail": "token expired"}
    with strict_plane.client() as admin:
        assert [e["seq"] for e in admin.get(f"/api/runs/{run_id}/events").json()["events"]] == [1, 2]


def test_a_run_token_cannot_read_or_write_another_run_or_act_as_anyone_else(
    strict_plane: ControlPlane, strict_agent_token: str, unique: str
) -> None:
    location = loaded_location(strict_plane, strict_agent_token, f"scope-{unique}")
    mine, token = run_with_token(strict_plane, strict_agent_token, location)
    other, _ = run_with_token(strict_plane, strict_agent_token, location)
    with strict_plane.client(token) as worker:
        writes = [
            worker.post(f"/api/runs/{other}/events", json={"events": [event(1)]}),
            worker.post(f"/api/runs/{other}/logs", json={"lines": []}),
        ]
        assert [r.status_code for r in writes] == [403, 403]
        assert writes[0].json() == {"detail": "this run token belongs to another run"}
        reads = [
            worker.get(path) for path in (f"/api/runs/{other}", f"/api/runs/{other}/events", f"/api/runs/{mine}/logs")
        ]
        assert [r.status_code for r in reads] == [403, 403, 403]
        assert worker.post(f"/api/agent/runs/{mine}/token", json={"attempt": 2}).status_code == 403
        assert worker.post("/api/tokens", json={"kind": "admin", "name": "escalate"}).status_code == 403
    with strict_plane.client() as admin:
        assert admin.get(f"/api/runs/{other}/events").json()["events"] == []


def test_tokens_are_stored_only_as_hashes(strict_plane: ControlPlane, unique: str) -> None:
    with strict_plane.client() as admin:
        secret = admin.post("/api/tokens", json={"kind": "agent", "name": f"hashed-{unique}"}).json()["token"]
    database = Path(strict_plane.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT token_hash FROM tokens WHERE name = ?", (f"hashed-{unique}",)).fetchall()
    assert rows == [(hashlib.sha256(secret.encode()).hexdigest(),)]
    for path in database.parent.glob(database.name + "*"):  # the database, its WAL and shared-memory files
        assert secret.encode() not in path.read_bytes(), f"the secret is stored in {path.name}"
    assert strict_plane.admin_token.encode() not in database.read_bytes()


def test_unknown_and_missing_tokens_are_401_everywhere(strict_plane: ControlPlane) -> None:
    with httpx.Client(base_url=strict_plane.url) as anonymous:
        assert anonymous.delete("/api/tokens/x").status_code == 401
        assert anonymous.get("/api/tokens", headers={"Authorization": "Bearer nope"}).json() == {
            "detail": "invalid token"
        }
