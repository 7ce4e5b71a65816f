"""Runs on the real control plane for executor tests: a location reported LOADED, a run, and its run token.

No agent polls the location's task queue, so the control plane's workflows just wait; the executor under
test plays the run worker the agent would have started.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from longshoreman.definitions import load_definitions
from longshoreman.dev.temporal_server import free_port
from tests.longshoreman.sdk_support import HELLO, run_env
from tests.support.control_plane import ControlPlane


@dataclass
class RunTarget:
    """One run on the control plane, with a token scoped to it."""

    control_plane: ControlPlane
    run_id: str
    token: str
    job: str

    def env(self, url: str | None = None, **extra: str) -> dict[str, str]:
        """The environment the agent would give `execute-run` for this run."""
        return run_env(
            self.job,
            run_id=self.run_id,
            LONGSHOREMAN_CONTROL_PLANE_URL=url or self.control_plane.url,
            LONGSHOREMAN_RUN_TOKEN=self.token,
            **extra,
        )

    def events(self) -> list[dict[str, Any]]:
        """The run's events as the control plane stored them."""
        with self.control_plane.client() as client:
            response = client.get(f"/api/runs/{self.run_id}/events")
            response.raise_for_status()
            events: list[dict[str, Any]] = response.json()["events"]
            return events

    def lines(self) -> list[dict[str, Any]]:
        """The run's log lines as the control plane stored them."""
        with self.control_plane.client() as client:
            response = client.get(f"/api/runs/{self.run_id}/logs")
            response.raise_for_status()
            lines: list[dict[str, Any]] = response.json()["lines"]
            return lines


class RunFactory:
    """Creates runs of the hello location on the control plane (one location per test)."""

    def __init__(self, control_plane: ControlPlane, agent_token: str, unique: str) -> None:
        self.control_plane = control_plane
        self.agent_token = agent_token
        self.location = f"sdk-{unique}"
        self._location_ready = False

    def _ensure_location(self, admin: httpx.Client, agent: httpx.Client) -> None:
        if self._location_ready:
            return
        spec = {"name": self.location, "module": HELLO, "agent_queue": f"sdk-test-{self.location}"}
        created = admin.post("/api/locations", json=spec)
        assert created.status_code == 201, created.text
        report = {
            "name": self.location,
            "status": "LOADED",
            "generation": 1,
            "seq": 1,
            "definitions": load_definitions(HELLO).to_dict(),
        }
        assert agent.put(f"/api/agent/locations/{self.location}/report", json=report).json() == {"applied": True}
        self._location_ready = True

    def __call__(self, job: str = "greet", config: dict[str, Any] | None = None, attempt: int = 1) -> RunTarget:
        """A new run of `job` and a run token for `attempt`."""
        with self.control_plane.client() as admin, self.control_plane.client(self.agent_token) as agent:
            self._ensure_location(admin, agent)
            launched = admin.post("/api/runs", json={"location": self.location, "job": job, "config": config or {}})
            assert launched.status_code == 201, launched.text
            run_id = launched.json()["run"]["id"]
            token = agent.post(f"/api/agent/runs/{run_id}/token", json={"attempt": attempt})
            assert token.status_code == 200, token.text
        return RunTarget(self.control_plane, run_id, token.json()["token"], job)


def parse_time(value: str) -> datetime:
    """A stored event or log time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class TcpRelay:
    """Forwards a local port to the control plane: a network path the test can open late, not a stand-in server."""

    def __init__(self, target_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._target = (httpx.URL(target_url).host, httpx.URL(target_url).port or 80)
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def open(self) -> None:
        """Start accepting connections (before this, connecting is refused)."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop relaying."""
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                sock.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass
