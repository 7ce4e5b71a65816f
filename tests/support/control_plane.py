"""A real control-plane subprocess (`python -m controlplane`) for tests."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from longshoreman.dev.temporal_server import free_port
from tests.support.encryption import key_env


def process_env(
    temporal_address: str, database_url: str, port: int | None = None, encryption_keys: str | None = None
) -> dict[str, str]:
    """The environment of a control-plane process (or `longshoreman control-plane migrate`) under test: ours, less
    any LONGSHOREMAN_* setting, plus its database, port (default: a free one), Temporal and payload keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    env.update(
        LONGSHOREMAN_DATABASE_URL=database_url,
        LONGSHOREMAN_HOST="127.0.0.1",
        LONGSHOREMAN_PORT=str(port or free_port()),
        LONGSHOREMAN_TEMPORAL__ADDRESS=temporal_address,
        LONGSHOREMAN_LOG_LEVEL="warning",
        LONGSHOREMAN_AGENT_TIMEOUT_S="4",  # the test agents beat every second
        # Control planes of different databases share the session's Temporal: each serves its own alert queue.
        LONGSHOREMAN_ALERTS_TASK_QUEUE=f"controlplane-{secrets.token_hex(5)}",
    )
    env.update(key_env(encryption_keys))
    return env


def run_to_exit(argv: list[str], env: dict[str, str], timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a command that should end by itself (a refused start, a migration); its exit code and output."""
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


@dataclass
class ControlPlane:
    """A running control plane: its URL, the bootstrap admin token and the process."""

    url: str
    admin_token: str
    process: subprocess.Popen[bytes]
    log_file: Path
    database_url: str
    _clients: list[httpx.Client] = field(default_factory=list)
    _env: dict[str, str] = field(default_factory=dict)
    _root: Path | None = None

    @classmethod
    def start(
        cls,
        temporal_address: str,
        root: Path,
        timeout_s: float = 30.0,
        extra_env: dict[str, str] | None = None,
        encryption_keys: str | None = None,
        database_url: str | None = None,
        admin_token: str | None = None,
    ) -> ControlPlane:
        """Start `python -m controlplane` on a free port; wait until healthy.

        `database_url` (default: a fresh SQLite file under `root`) is its database; `extra_env` adds or overrides
        environment variables (e.g. other LONGSHOREMAN_* settings); `encryption_keys` (default: the test
        session's) encrypt the payloads it sends to Temporal; `admin_token` (default: a new one) is its bootstrap token.
        """
        root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        admin_token = admin_token or secrets.token_urlsafe(32)
        database_url = database_url or f"sqlite:///{root / 'controlplane.db'}"
        env = process_env(temporal_address, database_url, port, encryption_keys)
        env.update(LONGSHOREMAN_ADMIN_TOKEN=admin_token)
        env.update(extra_env or {})
        log_file = root / "controlplane.log"
        plane = cls(
            url=f"http://127.0.0.1:{port}",
            admin_token=admin_token,
            process=_spawn(env, root, log_file),
            log_file=log_file,
            database_url=database_url,
            _env=env,
            _root=root,
        )
        try:
            plane.wait_healthy(timeout_s)
        except BaseException:
            plane.stop()
            raise
        return plane

    def wait_healthy(self, timeout_s: float) -> None:
        """Block until GET /api/health answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"control plane exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"control plane not healthy within {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the process wrote."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def client(self, token: str | None = None) -> httpx.Client:
        """An httpx client for the API, authenticated as admin (or with `token`)."""
        client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token or self.admin_token}"}, timeout=30.0
        )
        self._clients.append(client)
        return client

    def create_agent_token(self, name: str = "test-agent", queues: list[str] | None = None) -> str:
        """A new agent token (for PUT /api/agent/... and for agents under test); it serves `queues` (default: any)."""
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}) as client:
            body = {"kind": "agent", "name": name, "queues": queues or ["*"]}
            response = client.post("/api/tokens", json=body)
            response.raise_for_status()
            token: str = response.json()["token"]
            return token

    def kill(self) -> None:
        """kill -9 the control plane (its clients stay usable: they reconnect after `restart`)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self, timeout_s: float = 30.0) -> None:
        """Start the control plane again on the same port, database file and settings; wait until healthy."""
        assert self.process.poll() is not None, "stop or kill the control plane first"
        assert self._root is not None
        self.process = _spawn(self._env, self._root, self.log_file)
        self.wait_healthy(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _spawn(env: dict[str, str], root: Path, log_file: Path) -> subprocess.Popen[bytes]:
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "controlplane"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
