"""Roles on user tokens: viewer reads, launcher runs, editor changes locations, automations and limits, admin
manages tokens; each refusal is a 403 naming the role that is missing; sessions act with their token's role."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.controlplane.conftest import location_spec
from tests.support.control_plane import ControlPlane


def token_of(api: httpx.Client, role: str, name: str) -> dict[str, str]:
    """Create a user token of `role` (the answer, with its secret)."""
    response = api.post("/api/tokens", json={"kind": "admin", "role": role, "name": name})
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    assert created["role"] == role
    return created


@pytest.fixture
def as_role(control_plane: ControlPlane, api: httpx.Client, unique: str) -> Iterator[dict[str, httpx.Client]]:
    """One client per role, each with a token of its own."""
    clients = {
        role: control_plane.client(token_of(api, role, f"{role}-{unique}")["token"])
        for role in ("viewer", "launcher", "editor")
    }
    yield clients
    for client in clients.values():
        client.close()


def refused(response: httpx.Response, role: str) -> bool:
    """A 403 that names the role that was missing."""
    return response.status_code == 403 and f"role '{role}' is required" in response.json()["detail"]


def test_a_viewer_reads_everything_and_changes_nothing(
    as_role: dict[str, httpx.Client], loaded_location: str, unique: str, queue: str
) -> None:
    viewer = as_role["viewer"]
    for path in ("/api/runs", "/api/locations", f"/api/locations/{loaded_location}", "/api/limits", "/api/audit"):
        assert viewer.get(path).status_code == 200, path
    assert refused(viewer.post("/api/runs", json={"location": loaded_location, "job": "noop"}), "launcher")
    assert refused(viewer.post("/api/locations", json=location_spec(f"v-{unique}", queue)), "editor")
    assert refused(viewer.post("/api/tokens", json={"kind": "admin", "name": "x"}), "admin")
    assert refused(viewer.get("/api/tokens"), "admin")
    detail = viewer.post("/api/runs", json={"location": loaded_location, "job": "noop"}).json()["detail"]
    assert detail == "role 'launcher' is required to launch, cancel and re-execute runs (this token's role is 'viewer')"


def test_a_launcher_launches_cancels_and_reexecutes_but_changes_no_location_or_limit(
    as_role: dict[str, httpx.Client], loaded_location: str
) -> None:
    launcher = as_role["launcher"]
    launched = launcher.post("/api/runs", json={"location": loaded_location, "job": "noop"})
    assert launched.status_code == 201, launched.text
    run_id = launched.json()["run"]["id"]
    assert launcher.post(f"/api/runs/{run_id}/reexecute").status_code == 201
    assert launcher.post(f"/api/runs/{run_id}/cancel").status_code == 202
    assert refused(launcher.post(f"/api/locations/{loaded_location}/redeploy"), "editor")
    assert refused(launcher.put("/api/limits/deployment", json={"max_concurrent": 3}), "editor")


def test_an_editor_changes_limits_but_manages_no_token(as_role: dict[str, httpx.Client], unique: str) -> None:
    editor = as_role["editor"]
    scope = f"tag:roles-{unique}"
    assert editor.put(f"/api/limits/{scope}", json={"max_concurrent": 2}).status_code == 200
    assert editor.delete(f"/api/limits/{scope}").status_code == 204
    assert editor.post("/api/runs", json={"location": "nowhere", "job": "noop"}).status_code == 404  # launcher rights
    assert refused(editor.post("/api/tokens", json={"kind": "admin", "name": "x"}), "admin")


def test_a_session_acts_with_its_tokens_role(control_plane: ControlPlane, api: httpx.Client, unique: str) -> None:
    viewer = token_of(api, "viewer", f"browser-{unique}")
    with httpx.Client(base_url=control_plane.url) as browser:
        opened = browser.post("/api/session", json={"token": viewer["token"]})
        assert opened.status_code == 201
        assert opened.json()["role"] == "viewer" and opened.json()["name"] == f"browser-{unique}"
        csrf = {"X-CSRF-Token": opened.json()["csrf_token"]}
        assert browser.get("/api/runs").status_code == 200
        assert refused(browser.post("/api/runs", json={"location": "x", "job": "y"}, headers=csrf), "launcher")


def test_tokens_carry_their_role_and_agent_tokens_have_none(api: httpx.Client, unique: str) -> None:
    created = token_of(api, "editor", f"listed-{unique}")
    default = api.post("/api/tokens", json={"kind": "admin", "name": f"default-{unique}"}).json()
    listed = {token["id"]: token for token in api.get("/api/tokens").json()["tokens"]}
    assert listed[created["id"]]["role"] == "editor"
    assert default["role"] == "admin" and listed[default["id"]]["role"] == "admin"
    rotated = api.post(f"/api/tokens/{created['id']}/rotate", json={"overlap_s": 0}).json()
    assert rotated["role"] == "editor"
    wrong = api.post("/api/tokens", json={"kind": "agent", "name": "a", "role": "viewer", "queues": ["q"]})
    assert wrong.status_code == 422 and "only user (admin kind) tokens have a role" in wrong.json()["detail"]
    unknown = api.post("/api/tokens", json={"kind": "admin", "name": "a", "role": "owner"})
    assert unknown.status_code == 422 and "role" in unknown.json()["detail"]
