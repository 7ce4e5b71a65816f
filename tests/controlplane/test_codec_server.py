"""The codec endpoint: Temporal's remote codec protocol, admin-only, CORS for the Temporal UI's origin only."""

from __future__ import annotations

import base64
import json

import httpx

from tests.support.control_plane import ControlPlane

UI_ORIGIN = "http://127.0.0.1:8233"  # the control plane's default TEMPORAL_UI_URL


def plain_payload(value: object) -> dict[str, object]:
    """A json/plain payload in protobuf JSON, as the Temporal UI sends it."""
    return {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(value).encode()).decode(),
    }


def test_encode_encrypts_and_decode_restores(api: httpx.Client) -> None:
    original = [plain_payload({"password": "hunter2"}), plain_payload([1, 2, 3])]
    encoded = api.post("/codec/encode", json={"payloads": original})
    assert encoded.status_code == 200, encoded.text
    sealed = encoded.json()["payloads"]
    assert [base64.b64decode(p["metadata"]["encoding"]) for p in sealed] == [b"binary/encrypted"] * 2
    assert all(base64.b64decode(p["metadata"]["encryption-key-id"]) == b"test-session" for p in sealed)
    assert "hunter2" not in json.dumps(sealed) and base64.b64encode(b"hunter2").decode() not in json.dumps(sealed)

    decoded = api.post("/codec/decode", json={"payloads": sealed}, headers={"X-Namespace": "default"})
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == {"payloads": original}


def test_decode_needs_an_admin_token(anonymous: httpx.Client, agent_api: httpx.Client) -> None:
    body = {"payloads": [plain_payload("x")]}
    assert anonymous.post("/codec/decode", json=body).status_code == 401
    assert agent_api.post("/codec/decode", json=body).status_code == 403
    assert anonymous.post("/codec/encode", json=body).status_code == 401


def test_a_signed_in_browser_session_decodes_and_the_token_never_sits_in_a_cookie(
    control_plane: ControlPlane, api: httpx.Client
) -> None:
    sealed = api.post("/codec/encode", json={"payloads": [plain_payload("s")]}).json()
    with httpx.Client(base_url=control_plane.url) as browser:
        assert browser.post("/codec/decode", json=sealed).status_code == 401, "no session yet"
        signed_in = browser.post("/api/session", json={"token": control_plane.admin_token})
        assert signed_in.status_code == 201, signed_in.text
        assert control_plane.admin_token not in signed_in.headers["set-cookie"]
        assert browser.post("/codec/decode", json=sealed).json() == {"payloads": [plain_payload("s")]}


def test_cors_allows_the_temporal_ui_origin_on_codec_paths_only(anonymous: httpx.Client) -> None:
    preflight = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    allowed = anonymous.options("/codec/decode", headers=preflight)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"

    other = anonymous.options("/codec/decode", headers=preflight | {"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    api_preflight = anonymous.options("/api/runs", headers=preflight)
    assert "access-control-allow-origin" not in api_preflight.headers


def test_decode_with_an_unknown_key_is_a_readable_422(api: httpx.Client) -> None:
    foreign = {
        "metadata": {
            "encoding": base64.b64encode(b"binary/encrypted").decode(),
            "encryption-key-id": base64.b64encode(b"retired-key").decode(),
        },
        "data": base64.b64encode(b"\0" * 40).decode(),
    }
    response = api.post("/codec/decode", json={"payloads": [foreign]})
    assert response.status_code == 422
    assert "retired-key" in response.json()["detail"]
