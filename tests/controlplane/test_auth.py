"""Token kinds and scopes on the real HTTP API."""

from __future__ import annotations

import httpx
import pytest

from tests.support.control_plane import ControlPlane

USER_ENDPOINTS = [
    ("GET", "/api/locations"),
    ("GET", "/api/locations/some"),
    ("POST", "/api/locations"),
    ("PUT", "/api/locations/some"),
    ("DELETE", "/api/locations/some"),
    ("POST", "/api/locations/some/redeploy"),
    ("GET", "/api/runs"),
    ("POST", "/api/runs"),
    ("GET", "/api/runs/some"),
    ("GET", "/api/runs/some/events"),
    ("GET", "/api/runs/some/logs"),
    ("POST", "/api/runs/some/cancel"),
    ("POST", "/api/tokens"),
]
AGENT_ENDPOINTS = [
    ("PUT", "/api/agent/locations/some/report"),
    ("PUT", "/api/agent/runs/some/report"),
    ("POST", "/api/agent/runs/some/token"),
]


@pytest.mark.parametrize(("method", "path"), USER_ENDPOINTS + AGENT_ENDPOINTS)
def test_missing_or_unknown_token_is_401(anonymous: httpx.Client, method: str, path: str):
    missing = anonymous.request(method, path)
    unknown = anonymous.request(method, path, headers={"Authorization": "Bearer not-a-token"})

    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert "missing bearer token" in missing.json()["detail"]
    assert unknown.status_code == 401
    assert unknown.json() == {"detail": "invalid token"}


@pytest.mark.parametrize(("method", "path"), USER_ENDPOINTS)
def test_agent_token_on_user_endpoints_is_403(agent_api: httpx.Client, method: str, path: str):
    response = agent_api.request(method, path)

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail.startswith("a user token with role '") and detail.endswith("(this token is of kind 'agent')")


@pytest.mark.parametrize(("method", "path"), AGENT_ENDPOINTS)
def test_admin_token_on_agent_endpoints_is_403(api: httpx.Client, method: str, path: str):
    assert api.request(method, path).status_code == 403


def test_admin_creates_tokens_that_work_for_their_kind(control_plane: ControlPlane, api: httpx.Client, unique: str):
    admin = api.post("/api/tokens", json={"kind": "admin", "name": f"ops-{unique}"})
    agent = api.post("/api/tokens", json={"kind": "agent", "name": f"agent-{unique}"})
    bad_kind = api.post("/api/tokens", json={"kind": "run", "name": "x"})

    assert (admin.status_code, agent.status_code, bad_kind.status_code) == (201, 201, 422)
    assert admin.json()["kind"] == "admin" and admin.json()["name"] == f"ops-{unique}"
    assert admin.json()["token"] != agent.json()["token"]
    with control_plane.client(admin.json()["token"]) as new_admin:
        assert new_admin.get("/api/locations").status_code == 200
    with control_plane.client(agent.json()["token"]) as new_agent:
        assert new_agent.get("/api/locations").status_code == 403
        assert (
            new_agent.put(
                "/api/agent/runs/nope/report", json={"run_id": "nope", "status": "STARTED", "seq": 1}
            ).status_code
            == 404
        )


def test_health_page_and_openapi_need_no_token(anonymous: httpx.Client):
    assert anonymous.get("/api/health").json() == {"status": "ok"}
    # The web UI sends a browser that is not signed in to the sign-in page, which needs no token.
    page = anonymous.get("/runs?status=FAILURE")
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/runs%3Fstatus%3DFAILURE"
    sign_in = anonymous.get(page.headers["location"])
    assert sign_in.status_code == 200 and "text/html" in sign_in.headers["content-type"]
    assert "Longshoreman" in sign_in.text and 'id="signin"' in sign_in.text
    paths = anonymous.get("/openapi.json").json()["paths"]
    assert {"/api/locations", "/api/runs", "/api/runs/{run_id}/events", "/api/agent/runs/{run_id}/report"} <= set(paths)


def test_unknown_route_is_404_with_detail(api: httpx.Client):
    assert api.get("/api/nothing-here").json() == {"detail": "Not Found"}
