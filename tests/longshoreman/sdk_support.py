"""Helpers for the SDK tests: start `longshoreman execute-run` / `code-server` as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from longshoreman.dev.temporal_server import free_port

HELLO = "examples.hello.definitions"
REPO_ROOT = Path(__file__).resolve().parents[2]


def write_module(directory: Path, name: str, source: str) -> str:
    """Write `<directory>/<name>.py` (dedented) and return the module name."""
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any LONGSHOREMAN_* variable, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.update(overrides)
    return env


def run_env(job: str, module: str = HELLO, run_id: str = "local-run", **extra: str) -> dict[str, str]:
    """The environment the agent gives `execute-run` (without a control plane unless `extra` adds one)."""
    base = {"LONGSHOREMAN_RUN_ID": run_id, "LONGSHOREMAN_RUN_MODULE": module, "LONGSHOREMAN_RUN_JOB": job}
    return clean_env(**(base | extra))


def execute_run(env: dict[str, str], cwd: Path, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `python -m longshoreman execute-run` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "longshoreman", "execute-run"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def start_execute_run(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start `python -m longshoreman execute-run` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "longshoreman", "execute-run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class CodeServerProcess:
    """`python -m longshoreman code-server` on a free port, stopped on exit."""

    def __init__(self, module: str, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "longshoreman", "code-server", "--module", module, "--port", str(self.port)],
            env=clean_env(),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_healthy(self) -> None:
        """Block until GET /health answers."""

        def healthy() -> bool:
            assert self.process.poll() is None, f"code server exited: {self.process.communicate()[1]}"
            try:
                return httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, what="the code server to answer /health")

    def __enter__(self) -> CodeServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()
