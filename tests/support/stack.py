"""The whole loop for end-to-end tests: control plane + agent on a unique queue, with user-level helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.agent import REPO_ROOT, AgentProcess, get_json, wait_for

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass
class Stack:
    """A control-plane client and the agent serving this test's task queue."""

    client: httpx.Client
    agent: AgentProcess
    queue: str
    prefix: str
    locations: list[str] = field(default_factory=list)

    def spec(self, name: str = "hello", **overrides: Any) -> dict[str, Any]:
        """A process-launcher spec of examples/hello on this test's queue."""
        spec = {
            "name": f"{name}-{self.prefix}",
            "launcher": "process",
            "module": "examples.hello.definitions",
            "working_dir": str(REPO_ROOT),
            "agent_queue": self.queue,
            "startup_timeout_s": 30,
        }
        spec.update(overrides)
        return spec

    def add_location(self, spec: dict[str, Any], wait_loaded: bool = True) -> dict[str, Any]:
        """Create a location (and wait for LOADED)."""
        response = self.client.post("/api/locations", json=spec)
        assert response.status_code == 201, response.text
        self.locations.append(spec["name"])
        if wait_loaded:
            return self.wait_location(spec["name"], {"LOADED"})
        return dict(response.json())

    def location(self, name: str) -> dict[str, Any]:
        """GET a location."""
        return dict(get_json(self.client, f"/api/locations/{name}"))

    def wait_location(self, name: str, statuses: set[str], timeout_s: float = 30.0, **match: Any) -> dict[str, Any]:
        """Wait until the location is in one of `statuses` (and its fields equal `match`)."""

        def probe() -> dict[str, Any] | None:
            view = self.location(name)
            ok = view["status"] in statuses and all(view.get(k) == v for k, v in match.items())
            return view if ok else None

        try:
            return wait_for(probe, timeout_s, f"location {name} in {statuses} {match}")
        except AssertionError as err:
            raise AssertionError(f"{err}\nagent log:\n{self.agent.log_tail()}") from None

    def launch(self, job: str, config: dict[str, Any] | None = None, location: str = "hello", **fields: Any) -> str:
        """Launch a run and return its id."""
        body = {"location": f"{location}-{self.prefix}", "job": job, "config": config or {}, **fields}
        response = self.client.post("/api/runs", json=body)
        assert response.status_code in (200, 201), response.text
        return str(response.json()["run"]["id"])

    def started_sleepy(self, seconds: float, **fields: Any) -> tuple[str, int]:
        """Deploy the hello location, launch `sleepy` and wait until it runs: (run id, worker pid)."""
        self.add_location(self.spec())
        run_id = self.launch("sleepy", {"seconds": seconds}, **fields)
        self.wait_run(run_id, {"STARTED"})
        return run_id, self.worker_pid(run_id)

    def run(self, run_id: str) -> dict[str, Any]:
        """GET a run."""
        return dict(get_json(self.client, f"/api/runs/{run_id}"))

    def wait_run(self, run_id: str, statuses: set[str] = TERMINAL, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait until the run reaches one of `statuses`."""

        def probe() -> dict[str, Any] | None:
            view = self.run(run_id)
            return view if view["status"] in statuses else None

        try:
            return wait_for(probe, timeout_s, f"run {run_id} in {statuses}")
        except AssertionError as err:
            raise AssertionError(f"{err}\nagent log:\n{self.agent.log_tail()}") from None

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events."""
        return list(get_json(self.client, f"/api/runs/{run_id}/events")["events"])

    def logs(self, run_id: str) -> list[str]:
        """The run's log lines' text."""
        return [line["line"] for line in get_json(self.client, f"/api/runs/{run_id}/logs")["lines"]]

    def worker_pid(self, run_id: str, attempt: int = 1) -> int:
        """Pid of the run worker, once launched."""
        return wait_for(lambda: self.agent.handle_pid("runs", f"run-{run_id}-a{attempt}"), 15, "run worker pid")

    def server_pid(self, server: str) -> int:
        """Pid of a code-server instance."""
        return wait_for(lambda: self.agent.handle_pid("servers", server), 15, f"pid of {server}")

    def remove_all(self) -> None:
        """Remove this test's locations (stops their servers)."""
        for name in self.locations:
            self.client.delete(f"/api/locations/{name}")
