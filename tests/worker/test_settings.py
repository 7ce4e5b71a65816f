"""The agent's settings: environment variables win over the YAML file; a missing file is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import AgentSettings


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
    result = subprocess.run([sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.yaml" in lines[0], result.stderr
