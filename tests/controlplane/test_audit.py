"""The audit log: launches, cancels, re-executions, location, limit and token changes, with who made them;
newest first, filtered by action or actor, a page at a time; refused requests leave no entry."""

from __future__ import annotations

import httpx

from tests.support.control_plane import ControlPlane


def entries(api: httpx.Client, **params: str | int) -> list[dict[str, str]]:
    """GET /api/audit with `params`."""
    response = api.get("/api/audit", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, str]] = response.json()["entries"]
    return found


def test_who_did_what_is_recorded_newest_first(
    control_plane: ControlPlane, api: httpx.Client, loaded_location: str, unique: str
) -> None:
    made = api.post("/api/tokens", json={"kind": "admin", "role": "launcher", "name": f"ops-{unique}"}).json()
    with control_plane.client(made["token"]) as ops:
        run_id = ops.post("/api/runs", json={"location": loaded_location, "job": "noop"}).json()["run"]["id"]
        child = ops.post(f"/api/runs/{run_id}/reexecute").json()["run"]["id"]
        assert ops.post(f"/api/runs/{run_id}/cancel").status_code == 202
        assert ops.put("/api/limits/deployment", json={"max_concurrent": 1}).status_code == 403  # no entry
    assert api.put(f"/api/limits/tag:audit-{unique}", json={"max_concurrent": 4}).status_code == 200
    assert api.delete(f"/api/tokens/{made['id']}").status_code == 204

    mine = entries(api, actor=made["id"])
    assert [(e["action"], e["target"]) for e in mine] == [
        ("run.canceled", run_id),
        ("run.reexecuted", child),
        ("run.launched", run_id),
    ]
    assert all(e["actor_name"] == f"ops-{unique}" for e in mine)
    assert mine[1]["detail"] == f"re-executes {run_id}" and mine[2]["detail"] == f"{loaded_location}/noop"
    limit = entries(api, action="limit.set")[0]
    assert limit["target"] == f"tag:audit-{unique}" and limit["detail"] == "max_concurrent=4"
    tokens = [(e["action"], e["target"]) for e in entries(api, action="token.", limit=1000)]
    assert ("token.revoked", made["id"]) in tokens and ("token.created", made["id"]) in tokens
    assert made["token"] not in api.get("/api/audit", params={"limit": 1000}).text  # never a secret


def test_the_log_pages_with_its_cursor(api: httpx.Client, unique: str) -> None:
    for n in range(3):
        assert api.put(f"/api/limits/tag:page-{unique}", json={"max_concurrent": n + 1}).status_code == 200
    first = api.get("/api/audit", params={"action": "limit.set", "limit": 2}).json()
    assert len(first["entries"]) == 2 and first["next_cursor"]
    second = api.get("/api/audit", params={"action": "limit.set", "limit": 2, "cursor": first["next_cursor"]}).json()
    assert second["entries"][0]["id"] < first["entries"][-1]["id"]
    assert [e["detail"] for e in first["entries"]] == ["max_concurrent=3", "max_concurrent=2"]
    bad = api.get("/api/audit", params={"cursor": "nope"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
