"""Fault 8a: one idempotency key sent by many clients at the same moment must make one run, launched once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import OneLocation

T = TypeVar("T")


def at_once(count: int, call: Callable[[int], T]) -> list[T]:
    """Run `call(i)` in `count` threads released together; the results in order."""
    barrier = threading.Barrier(count)

    def released(i: int) -> T:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(released, range(count)))


@dataclass
class SameKeyAtOnce(OneLocation):
    """`clients` clients POST the same launch with one idempotency key at once."""

    clients: int = 6
    name: str = "same idempotency key at once"
    responses: list[httpx.Response] = field(default_factory=list)

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        body: dict[str, Any] = {"location": self.location, "job": "greet", "idempotency_key": uuid.uuid4().hex}
        clients = [env.plane.client() for _ in range(self.clients)]
        try:
            self.responses = at_once(self.clients, lambda i: clients[i].post("/api/runs", json=body))
        finally:
            for client in clients:
                client.close()
        run_ids = {r.json()["run"]["id"] for r in self.responses if r.status_code in (200, 201)}
        for run_id in run_ids:
            ledger.expect(run_id, log_lines=1)
        ledger.settle(60)
        audit = ledger.audit(keep_servers={self.server})
        created = sum(1 for r in self.responses if r.status_code == 201)
        if len(run_ids) != 1 or created != 1:
            audit.duplicated += max(len(run_ids), created) - 1
            audit.problems.append(f"{len(run_ids)} runs, {created} created: {[r.status_code for r in self.responses]}")
        return audit
