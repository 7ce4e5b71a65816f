"""Helpers for automation tests: a code location of their own in a temporary directory, ticks and their runs."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.agent import get_json, wait_for
from tests.support.stack import Stack


@dataclass
class AutomatedLocation:
    """A location whose code (module `automated` in `root`) declares the schedules and sensors under test."""

    stack: Stack
    name: str
    root: Path

    @classmethod
    def add(cls, stack: Stack, root: Path, source: str, env: dict[str, str] | None = None) -> AutomatedLocation:
        """Write the module, add the location on the stack's queue and wait until it is LOADED."""
        root.mkdir(parents=True, exist_ok=True)
        (root / "automated.py").write_text(textwrap.dedent(source))
        spec = stack.spec("auto", module="automated", working_dir=str(root), env=env or {})
        stack.add_location(spec)
        return cls(stack, spec["name"], root)

    def path(self, automation: str) -> str:
        """The API path of one of its automations."""
        return f"/api/automations/{self.name}/{automation}"

    def automation(self, automation: str) -> dict[str, Any]:
        """GET the automation."""
        return dict(get_json(self.stack.client, self.path(automation)))

    def ticks(self, automation: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Its ticks, oldest first (none while the control plane has not yet followed the definitions)."""
        response = self.stack.client.get(f"{self.path(automation)}/ticks?limit={limit}")
        if response.status_code == 404:
            return []
        assert response.status_code == 200, f"ticks of {automation}: {response.status_code} {response.text}"
        return list(reversed(response.json()["ticks"]))

    def wait_ticks(self, automation: str, count: int, timeout_s: float = 30.0, **match: Any) -> list[dict[str, Any]]:
        """Wait until it has at least `count` ticks matching `match` (e.g. outcome="SUCCESS"); those ticks."""

        def probe() -> list[dict[str, Any]] | None:
            found = [t for t in self.ticks(automation) if all(t.get(k) == v for k, v in match.items())]
            return found if len(found) >= count else None

        return wait_for(probe, timeout_s, f"{count} ticks of {self.name}/{automation} with {match}", interval_s=0.2)

    def wait_present(self, automation: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait until the automation exists (it appears once the agent reported the definitions)."""

        def probe() -> dict[str, Any] | None:
            response = self.stack.client.get(self.path(automation))
            return dict(response.json()) if response.status_code == 200 else None

        return wait_for(probe, timeout_s, f"automation {self.name}/{automation}", interval_s=0.1)

    def set_status(self, automation: str, status: str) -> None:
        """Start (RUNNING) or stop (STOPPED) one of its automations."""
        action = "start" if status == "RUNNING" else "stop"
        response = self.stack.client.post(f"{self.path(automation)}/{action}")
        assert response.status_code == 200 and response.json()["status"] == status, response.text

    def redeploy(self, env: dict[str, str]) -> None:
        """Redeploy the location with a new environment and wait until the new generation serves."""
        current = self.stack.location(self.name)
        spec = dict(current["spec"]) | {"env": env}
        response = self.stack.client.post(f"/api/locations/{self.name}/redeploy", json={"spec": spec})
        assert response.status_code == 202, response.text
        self.stack.wait_location(self.name, {"LOADED"}, generation=current["generation"] + 1)
