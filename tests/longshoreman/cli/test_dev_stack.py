"""`longshoreman dev` starts the whole stack, deploys examples/hello, and leaves no process behind when stopped."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from contracts.api import LocationView
from contracts.statuses import LocationStatus
from controlplane import schema
from longshoreman.dev.processes import recorded_processes
from longshoreman.dev.temporal_server import free_port
from tests.support.database import first_release_database, snapshot

STARTUP_LIMIT_S = 180.0


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any LONGSHOREMAN_* setting, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")} | extra


def dev_command(state: Path, *extra: str) -> list[str]:
    """`longshoreman dev` on free ports with its state in `state`."""
    ports = ["--port", str(free_port()), "--temporal-port", str(free_port()), "--ui-port", str(free_port())]
    return [sys.executable, "-m", "longshoreman", "dev", "--state-dir", str(state), *ports, *extra]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_using(state: Path) -> list[psutil.Process]:
    """Live processes whose command line or working directory mentions the state dir."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        if str(state) in text:
            found.append(proc)
    return found


def wait_for_hello(process: subprocess.Popen[bytes], state: Path, output: Path) -> tuple[str, str]:
    """Wait until examples/hello is LOADED; return the control plane URL and admin token from the credentials."""
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"dev exited early: {output.read_text()}"
        creds_file = state / "credentials.json"
        if creds_file.exists():
            creds = json.loads(creds_file.read_text())
            try:
                response = httpx.get(
                    f"{creds['url']}/api/locations/hello", headers={"Authorization": f"Bearer {creds['token']}"}
                )
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                if LocationView.model_validate_json(response.content).status is LocationStatus.LOADED:
                    return creds["url"], creds["token"]
        time.sleep(0.25)
    raise AssertionError(f"hello was not LOADED: {output.read_text()}")


def test_dev_stack_serves_the_cli_and_leaves_nothing_behind_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dev_output = tmp_path / "dev-output.txt"
    with open(dev_output, "wb") as out:
        dev = subprocess.Popen(dev_command(state), cwd=tmp_path, env=clean_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        url, _token = wait_for_hello(dev, state, dev_output)
        # The CLI finds the stack through the credentials file `dev` wrote.
        cli_env = clean_env(LONGSHOREMAN_CREDENTIALS_FILE=str(state / "credentials.json"))

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "longshoreman", *args]
            return subprocess.run(command, cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=120)

        run = cli("run", "launch", "hello", "greet", "--config", '{"name": "docks"}', "--wait")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "SUCCESS" in run.stdout
        failed = cli("run", "launch", "hello", "fail", "--wait")
        assert failed.returncode == 1
        assert "ValueError: boom" in failed.stderr
        redeployed = cli("location", "redeploy", "hello", "--env", "GREETING=ahoy", "--wait")
        assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
        assert "location hello redeployed: LOADED (generation 2)" in redeployed.stdout
        started = {p.pid for p in psutil.Process(dev.pid).children(recursive=True)}
        recorded = recorded_processes(state / "agent")
        started |= {p.pid for p in recorded if alive(p.pid)}
        assert any(alive(p.pid) for p in recorded), "the hello code server should be running"
        assert len(started) >= 4  # Temporal, control plane, agent, code server (+ shims)

        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=90) == 0, dev_output.read_text()
    finally:
        if dev.poll() is None:
            dev.kill()

    assert [pid for pid in started if alive(pid)] == []
    assert processes_using(state) == []
    assert stat.S_IMODE((state / "credentials.json").stat().st_mode) == 0o600
    assert json.loads((state / "credentials.json").read_text())["url"] == url
    for log in ("temporal.log", "controlplane.log", "agent.log"):
        assert (state / "logs" / log).exists()


def test_demo_runs_the_example_job_and_stops_everything_twice(tmp_path: Path) -> None:
    state = tmp_path / "state"
    tokens = []
    for _ in range(2):  # the second run reuses the state dir: same admin token, same databases
        demo = subprocess.run(
            dev_command(state, "--demo"), cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300
        )

        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "SUCCESS" in demo.stdout
        assert "JOB_SUCCESS" in demo.stdout  # its events are printed
        assert "hello, world" in demo.stdout  # and its logs
        assert "Temporal Web UI: http://127.0.0.1:" in demo.stdout
        assert "control plane:   http://127.0.0.1:" in demo.stdout
        assert [p.pid for p in recorded_processes(state / "agent") if alive(p.pid)] == []
        assert processes_using(state) == []
        tokens.append(json.loads((state / "credentials.json").read_text())["token"])
    assert tokens[0] == tokens[1]


def test_the_demo_migrates_a_state_dir_the_first_release_left(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    url = f"sqlite:///{state / 'controlplane.db'}"
    first_release_database(url, "longshoreman")

    demo = subprocess.run(
        dev_command(state, "--demo"), cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300
    )

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"migrated the control plane's database from revision 0001 to {schema.head_revision()}" in demo.stdout
    stored = snapshot(url)
    assert stored["longshoreman_schema_version"] == [{"version_num": schema.head_revision()}]
    assert "0000000000aa00000001" in {row["id"] for row in stored["runs"]}
