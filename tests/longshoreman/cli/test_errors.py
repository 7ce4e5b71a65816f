"""Every CLI failure is one readable `error: ...` line and a non-zero exit code, and stores nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from longshoreman.dev.temporal_server import free_port
from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.support.control_plane import ControlPlane


def test_unreachable_control_plane_is_named_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    line = one_error_line(Cli(url, "some-token")("location", "list"))

    assert line == f"error: cannot reach the control plane at {url}: connection refused"


def test_real_console_script_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"LONGSHOREMAN_URL": url, "LONGSHOREMAN_TOKEN": "x", "PATH": "/usr/bin:/bin"}

    proc = subprocess.run(
        [sys.executable, "-m", "longshoreman", "run", "list"], env=env, cwd=tmp_path, capture_output=True, text=True
    )

    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"error: cannot reach the control plane at {url}: connection refused"]


def test_unknown_location_is_a_404_message(control_plane: ControlPlane, unique: str) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)

    line = one_error_line(cli("location", "show", f"nope-{unique}"))

    assert f"nope-{unique}" in line
    assert "(HTTP 404)" in line


def test_missing_token_is_refused_and_nothing_is_stored(control_plane: ControlPlane, unique: str) -> None:
    name = f"notoken-{unique}"

    line = one_error_line(Cli(control_plane.url, None)("location", "add", "--name", name, "--module", "a.b"))

    assert "(HTTP 401)" in line
    assert "LONGSHOREMAN_TOKEN" in line
    listed = Cli(control_plane.url, control_plane.admin_token)("location", "list", "--json")
    assert name not in listed.stdout


def test_wrong_token_is_refused(control_plane: ControlPlane) -> None:
    line = one_error_line(Cli(control_plane.url, "not-a-real-token")("run", "list"))

    assert "(HTTP 401)" in line


def test_bad_spec_file_names_the_file_and_the_field(control_plane: ControlPlane, unique: str, tmp_path: Path) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    bad_name = tmp_path / "bad-name.yaml"
    bad_name.write_text(f"name: Bad_{unique}\nmodule: examples.hello.definitions\n")
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("name: [unclosed\n")
    extra_field = tmp_path / "extra.yaml"
    extra_field.write_text(f"name: ok-{unique}\nmodule: examples.hello.definitions\nreplicas: 3\n")

    assert "name: must be 1-40 lowercase" in one_error_line(cli("location", "add", "--file", str(bad_name)))
    assert f"{not_yaml} is not valid YAML" in one_error_line(cli("location", "add", "-f", str(not_yaml)))
    assert "replicas: Extra inputs are not permitted" in one_error_line(cli("location", "add", "-f", str(extra_field)))
    missing = one_error_line(cli("location", "add", "-f", str(tmp_path / "absent.yaml")))
    assert missing == f"error: cannot read {tmp_path / 'absent.yaml'}: No such file or directory"

    listed = json.loads(cli("location", "list", "--json").stdout)
    assert f"ok-{unique}" not in [loc["name"] for loc in listed["locations"]]


def test_usage_errors_are_one_line_too() -> None:
    cli = Cli("http://127.0.0.1:9", "x")

    assert "No such command 'lst'" in one_error_line(cli("location", "lst"))
    assert "Missing argument" in one_error_line(cli("run", "launch"))
    assert "--config must be a JSON object" in one_error_line(cli("run", "launch", "a", "b", "--config", "[1]"))
    assert "--tag must look like KEY=VALUE" in one_error_line(cli("run", "launch", "a", "b", "--tag", "oops"))
