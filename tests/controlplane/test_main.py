"""The control-plane process: admin-token bootstrap and configuration (env vars and the YAML file)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.settings import ControlPlaneSettings
from longshoreman.dev.temporal_server import TemporalDevServer, free_port
from tests.support.control_plane import ControlPlane
from tests.support.database import database_text
from tests.support.encryption import key_env


def start_without_admin_token(db_url: str, temporal: TemporalDevServer, cwd: Path) -> ControlPlane:
    """`python -m controlplane` on `db_url` without LONGSHOREMAN_ADMIN_TOKEN, stdout piped; waits until healthy."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    env.update(
        LONGSHOREMAN_DATABASE_URL=db_url,
        LONGSHOREMAN_PORT=str(port),
        LONGSHOREMAN_TEMPORAL__ADDRESS=temporal.address,
        LONGSHOREMAN_LOG_LEVEL="warning",
    )
    env.update(key_env())
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane"], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    plane = ControlPlane(f"http://127.0.0.1:{port}", "", process, cwd / "no-log-file", db_url)
    try:
        plane.wait_healthy(30)
    except BaseException:
        plane.stop()
        raise
    return plane


def stop_and_read_stdout(plane: ControlPlane) -> str:
    """SIGTERM the process and return everything it printed."""
    plane.process.send_signal(signal.SIGTERM)
    stdout, _ = plane.process.communicate(timeout=15)
    return stdout.decode()


def test_generated_admin_token_is_printed_once_and_works(
    temporal_server: TemporalDevServer, tmp_path: Path, fresh_database_url: str
):
    db_url = fresh_database_url

    first = stop_and_read_stdout(start_without_admin_token(db_url, temporal_server, tmp_path))
    second_plane = start_without_admin_token(db_url, temporal_server, tmp_path)
    try:
        (line,) = [x for x in first.splitlines() if x.startswith("Admin token")]
        token = line.rsplit(" ", 1)[1]
        with second_plane.client(token) as client:
            assert client.get("/api/locations").status_code == 200
    finally:
        second = stop_and_read_stdout(second_plane)
    assert "Admin token" not in second and token not in second
    # Only the hash is stored.
    assert token not in database_text(db_url)


def test_bootstrap_token_from_env_is_accepted(control_plane: ControlPlane):
    with control_plane.client() as client:
        assert client.get("/api/locations").status_code == 200


def test_settings_come_from_yaml_with_env_taking_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "controlplane.yaml"
    config.write_text("port: 9100\ntemporal_namespace: prod\ndatabase_url: postgresql://db/longshoreman\n")
    for key in list(os.environ):
        if key.startswith("LONGSHOREMAN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LONGSHOREMAN_CONFIG_FILE", str(config))
    monkeypatch.setenv("LONGSHOREMAN_PORT", "9200")
    monkeypatch.setenv("LONGSHOREMAN_ADMIN_TOKEN", "s3cret")

    settings = ControlPlaneSettings()

    assert (settings.port, settings.temporal_namespace) == (9200, "prod")
    assert settings.database_url == "postgresql://db/longshoreman"
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_missing_config_file_is_a_readable_startup_error(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    env["LONGSHOREMAN_CONFIG_FILE"] = str(tmp_path / "nope.yaml")

    result = subprocess.run([sys.executable, "-m", "controlplane"], env=env, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("longshoreman control plane: invalid configuration: LONGSHOREMAN_CONFIG_FILE points to")
    assert line.endswith("nope.yaml, which is not a file")


def test_the_api_stays_up_when_temporal_goes_down_after_the_start(tmp_path: Path, fresh_database_url: str):
    # A start needs Temporal (wrong settings stop it with one line: tests/runtime/test_temporal_tls.py); after
    # that the API serves reads while Temporal is down, and what needs Temporal answers 503.
    temporal = TemporalDevServer.headless_in(tmp_path / "temporal")
    temporal.start()
    plane = ControlPlane.start(temporal.address, tmp_path / "plane", database_url=fresh_database_url)
    try:
        temporal.stop()
        with plane.client() as client:
            assert client.get("/api/locations").json() == {"locations": []}
            response = client.post("/api/locations", json={"name": "x", "module": "a.b"})
            assert response.status_code == 503
            assert client.get("/api/locations/x").status_code == 404
    finally:
        plane.stop()
        temporal.stop()
