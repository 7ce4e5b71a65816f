"""Browser sessions: a token signs in once; the browser then holds only an HttpOnly cookie and a CSRF token."""

from __future__ import annotations

import httpx

from tests.support.control_plane import ControlPlane


def sign_in(browser: httpx.Client, token: str) -> httpx.Response:
    """POST /api/session with `token`."""
    return browser.post("/api/session", json={"token": token})


def test_sign_in_sets_an_httponly_strict_cookie_that_is_not_the_token(control_plane: ControlPlane) -> None:
    with httpx.Client(base_url=control_plane.url) as browser:
        response = sign_in(browser, control_plane.admin_token)

        assert response.status_code == 201, response.text
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("longshoreman_session=") and "HttpOnly" in cookie, cookie
        assert "SameSite=strict" in cookie and "Path=/" in cookie, cookie
        assert control_plane.admin_token not in cookie and control_plane.admin_token not in response.text
        assert response.json()["kind"] == "admin" and response.json()["csrf_token"]
        assert browser.get("/api/runs").status_code == 200, "the session opens the API"
        assert browser.get("/api/session").json()["csrf_token"] == response.json()["csrf_token"]


def test_a_state_change_needs_the_sessions_csrf_token(control_plane: ControlPlane, unique: str) -> None:
    with httpx.Client(base_url=control_plane.url) as browser:
        csrf = sign_in(browser, control_plane.admin_token).json()["csrf_token"]
        body = {"kind": "admin", "name": f"csrf-{unique}"}

        forged = browser.post("/api/tokens", json=body)
        wrong = browser.post("/api/tokens", json=body, headers={"X-CSRF-Token": "guess"})
        right = browser.post("/api/tokens", json=body, headers={"X-CSRF-Token": csrf})

        assert (forged.status_code, wrong.status_code, right.status_code) == (403, 403, 201)
        assert "X-CSRF-Token" in forged.json()["detail"]


def test_sign_out_ends_the_session(control_plane: ControlPlane) -> None:
    with httpx.Client(base_url=control_plane.url) as browser:
        csrf = sign_in(browser, control_plane.admin_token).json()["csrf_token"]
        cookie = browser.cookies.get("longshoreman_session")
        assert browser.delete("/api/session", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert browser.get("/api/runs").status_code == 401
    # The old cookie value is dead on the server, not only forgotten by the browser.
    with httpx.Client(base_url=control_plane.url, cookies={"longshoreman_session": str(cookie)}) as replay:
        response = replay.get("/api/runs")
        assert response.status_code == 401 and "no such session" in response.json()["detail"]


def test_revoking_the_token_ends_its_sessions_and_other_kinds_cannot_sign_in(
    control_plane: ControlPlane, api: httpx.Client, unique: str
) -> None:
    created = api.post("/api/tokens", json={"kind": "admin", "name": f"browser-{unique}"}).json()
    agent = api.post("/api/tokens", json={"kind": "agent", "name": f"agent-{unique}", "queues": ["x"]}).json()
    with httpx.Client(base_url=control_plane.url) as browser:
        assert sign_in(browser, created["token"]).status_code == 201
        assert browser.get("/api/locations").status_code == 200
        assert api.delete(f"/api/tokens/{created['id']}").status_code == 204
        response = browser.get("/api/locations")
        assert response.status_code == 401 and "token revoked" in response.json()["detail"]
        assert sign_in(browser, agent["token"]).status_code == 403
        assert sign_in(browser, "not-a-token").status_code == 401
