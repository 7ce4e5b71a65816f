"""The agent's settings: environment variables win over the YAML file; a missing file is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import AgentSettings


def test_yaml_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("task_queue: from-file\ncontrol_plane_url: http://cp.example:8000\nlaunchers: [process]\n")
    monkeypatch.setenv("LONGSHOREMAN_CONFIG_FILE", str(config))
    monkeypatch.setenv("LONGSHOREMAN_TASK_QUEUE", "from-env")
    settings = AgentSettings()
    assert settings.task_queue == "from-env"
    assert settings.control_plane_url == "http://cp.example:8000"


def test_a_missing_config_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGSHOREMAN_CONFIG_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        AgentSettings()


def test_an_unknown_launcher_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGSHOREMAN_LAUNCHERS", '["process", "ssh"]')
    with pytest.raises(ValueError, match="launchers"):
        AgentSettings()


def test_the_agent_refuses_to_start_with_one_readable_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    env["LONGSHOREMAN_CONFIG_FILE"] = str(tmp_path / "missing.yaml")
    result = subprocess.run([sys.executable, "-m", "agent"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.yaml" in lines[0], result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LONGSHOREMAN_COMPUTE_LOGS__FORWARD": "false"}, "choose a store for them"),
        ({"LONGSHOREMAN_COMPUTE_LOGS__STORE": "s3"}, "needs LONGSHOREMAN_COMPUTE_LOGS__BUCKET"),
        ({"LONGSHOREMAN_COMPUTE_LOGS__STORE": "local", "LONGSHOREMAN_COMPUTE_LOGS__DIRECTORY": "logs"}, "absolute"),
        ({"LONGSHOREMAN_ECS__SERVER_ACCESS": "cloud-map"}, "CLOUD_MAP_NAMESPACE_ID"),
    ],
    ids=["forward-off-without-store", "s3-without-bucket", "relative-directory", "cloud-map-without-namespace"],
)
def test_incomplete_compute_log_and_ecs_settings_say_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        AgentSettings()


def test_the_compute_log_setting_becomes_one_store_url_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGSHOREMAN_COMPUTE_LOGS__STORE", "s3")
    monkeypatch.setenv("LONGSHOREMAN_COMPUTE_LOGS__BUCKET", "logs")
    monkeypatch.setenv("LONGSHOREMAN_COMPUTE_LOGS__PREFIX", "/prod/")
    monkeypatch.setenv("LONGSHOREMAN_COMPUTE_LOGS__FORWARD", "false")
    destination = AgentSettings().compute_logs.destination()
    assert (destination.store, destination.url, destination.forwarded) == ("s3", "s3://logs/prod", False)
    assert destination.where("r1") == "s3://logs/prod/r1/"
