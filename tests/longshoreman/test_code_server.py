"""`longshoreman code-server`: a real subprocess answering real HTTP."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from contracts.locations import Definitions
from tests.longshoreman.sdk_support import HELLO, CodeServerProcess, clean_env, write_module


def serve_once(module: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run a code server that is expected to exit on its own (it could not start)."""
    return subprocess.run(
        [sys.executable, "-m", "longshoreman", "code-server", "--module", module, "--port", "0", *extra],
        env=clean_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_serves_health_and_the_definitions_of_the_module(tmp_path: Path):
    with CodeServerProcess(HELLO, tmp_path) as server:
        server.wait_healthy()

        health = httpx.get(f"{server.url}/health")
        response = httpx.get(f"{server.url}/definitions")

    assert health.json() == {"status": "ok"}
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    definitions = Definitions.model_validate(response.json())
    assert [j.name for j in definitions.jobs] == ["greet", "fail", "sleepy", "count"]
    greet = definitions.job("greet")
    assert greet is not None
    assert greet.description == "Print a greeting."
    assert greet.config_schema["properties"]["name"] == {
        "type": "string",
        "default": "world",
        "description": "Who to greet.",
    }


def test_a_config_check_answers_with_the_json_schema_message_of_the_job(tmp_path: Path):
    with CodeServerProcess(HELLO, tmp_path) as server:
        server.wait_healthy()
        refused = httpx.post(f"{server.url}/jobs/greet/validate", json={"config": {"name": 3}})
        accepted = httpx.post(f"{server.url}/jobs/greet/validate", json={"config": {"name": "docks"}})
        unknown = httpx.post(f"{server.url}/jobs/nope/validate", json={"config": {}})
        definitions = Definitions.model_validate(httpx.get(f"{server.url}/definitions").json())

    assert refused.status_code == 200
    assert refused.json() == {
        "valid": False,
        "errors": ["config is not valid for job 'greet': config['name']: 3 is not of type 'string'"],
    }
    assert accepted.json() == {"valid": True, "errors": []}
    assert unknown.status_code == 404 and unknown.json() == {"error": "this code server has no job 'nope'"}
    # The control plane checks the same schema itself: an SDK job is not worth the round trip at launch.
    assert not any(job.validates_config for job in definitions.jobs)


def test_unknown_paths_answer_404_with_a_detail(tmp_path: Path):
    with CodeServerProcess(HELLO, tmp_path) as server:
        server.wait_healthy()
        response = httpx.get(f"{server.url}/nope")
        post = httpx.post(f"{server.url}/definitions", json={})

    assert response.status_code == 404
    assert response.json() == {"detail": "not found: /nope"}
    assert post.status_code == 405
    assert "detail" in post.json()


def test_sigterm_stops_it_cleanly(tmp_path: Path):
    with CodeServerProcess(HELLO, tmp_path) as server:
        server.wait_healthy()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=10)

    assert code == 0


def test_a_missing_module_exits_2_with_one_readable_line(tmp_path: Path):
    result = serve_once("no_such_module_here", tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "longshoreman code-server: could not import module 'no_such_module_here': "
        "ModuleNotFoundError: No module named 'no_such_module_here'"
    ]


def test_an_error_while_importing_user_code_exits_2_with_its_traceback(tmp_path: Path):
    module = write_module(
        tmp_path,
        "broken_jobs",
        """
        import os

        def connect():
            raise RuntimeError("database unreachable")

        connect()
        """,
    )

    result = serve_once(module, tmp_path)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1]
        == "longshoreman code-server: could not import module 'broken_jobs': RuntimeError: database unreachable"
    )
    assert any("broken_jobs.py" in line and "in connect" in line for line in lines)
    # The reader sees their own frames, not the loader's.
    assert not any("importlib" in line or "definitions.py" in line for line in lines)


def test_a_module_without_definitions_exits_2(tmp_path: Path):
    module = write_module(tmp_path, "no_defs", "from longshoreman import job\n\n@job\ndef solo(): pass\n")

    result = serve_once(module, tmp_path)

    assert result.returncode == 2
    assert "module 'no_defs' has no Definitions object" in result.stderr


def test_a_module_with_two_definitions_exits_2(tmp_path: Path):
    module = write_module(
        tmp_path,
        "two_defs",
        """
        from longshoreman import Definitions, job

        @job
        def a(): pass

        first = Definitions(jobs=[a])
        second = Definitions(jobs=[a])
        """,
    )

    result = serve_once(module, tmp_path)

    assert result.returncode == 2
    assert "several Definitions objects (first, second)" in result.stderr


def test_a_busy_port_exits_3_with_a_message(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "longshoreman", "code-server", "--module", HELLO, "--port", str(port)],
            env=clean_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
