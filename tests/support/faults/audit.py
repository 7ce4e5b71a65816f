"""The audit after a fault: which runs were lost or duplicated, which events went missing, what was left running.

Everything is judged from what a user and an operator can see: the control plane's API (statuses, events, logs)
and the processes on the machine (the launcher's state dir records every process it started).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from activities.launchers.process_files import is_same_process

TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
LIFECYCLE_END = {"SUCCESS": "JOB_SUCCESS", "FAILURE": "JOB_FAILURE"}


@dataclass
class Expectation:
    """What one launched run must end as."""

    run_id: str
    statuses: frozenset[str] = frozenset({"SUCCESS"})
    log_lines: int | None = None  # exact number of log lines a successful run prints
    max_attempts: int = 1


@dataclass
class Audit:
    """The loss columns of one trial; every count should be zero."""

    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    events_lost: int = 0
    orphans: int = 0
    recovery_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """No run lost or duplicated, no event lost, nothing left running."""
        return not (self.lost or self.duplicated or self.events_lost or self.orphans)

    def __str__(self) -> str:
        counts = f"lost={self.lost} duplicated={self.duplicated} events_lost={self.events_lost} orphans={self.orphans}"
        return counts + "".join(f"\n  - {p}" for p in self.problems)


class Ledger:
    """Runs launched during a trial, with what each must end as."""

    def __init__(self, client: httpx.Client, state_dir: Path) -> None:
        self.client = client
        self.state_dir = state_dir
        self.expected: dict[str, Expectation] = {}

    def launch(
        self,
        location: str,
        job: str,
        config: dict[str, Any] | None = None,
        *,
        statuses: frozenset[str] = frozenset({"SUCCESS"}),
        log_lines: int | None = None,
        **fields: Any,
    ) -> str:
        """POST /api/runs (201 expected) and record the expectation."""
        body = {"location": location, "job": job, "config": config or {}, **fields}
        response = self.client.post("/api/runs", json=body)
        assert response.status_code == 201, response.text
        run_id = str(response.json()["run"]["id"])
        self.expect(run_id, statuses=statuses, log_lines=log_lines)
        return run_id

    def sleepy(self, location: str, seconds: int, **fields: Any) -> str:
        """A run of hello's `sleepy`, which prints one line per second."""
        return self.launch(location, "sleepy", {"seconds": seconds}, log_lines=seconds, **fields)

    def expect(self, run_id: str, **fields: Any) -> None:
        """Record a run launched some other way."""
        self.expected[run_id] = Expectation(run_id=run_id, **fields)

    def view(self, run_id: str) -> dict[str, Any] | None:
        """GET the run, or None while the control plane is unreachable."""
        try:
            response = self.client.get(f"/api/runs/{run_id}")
        except httpx.TransportError:
            return None
        return dict(response.json()) if response.status_code == 200 else None

    def wait_all(self, statuses: set[str], timeout_s: float, runs: list[str] | None = None) -> bool:
        """Wait until every (given) run is in one of `statuses`; False after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        pending = set(runs if runs is not None else self.expected)
        while pending and time.monotonic() < deadline:
            for run_id in list(pending):
                view = self.view(run_id)
                if view is not None and view["status"] in statuses:
                    pending.discard(run_id)
            time.sleep(0.05)
        return not pending

    def settle(self, timeout_s: float = 60.0) -> bool:
        """Wait until every run is terminal; False if some never got there."""
        return self.wait_all(set(TERMINAL), timeout_s)

    def audit(self, keep_servers: set[str] | None = None, orphan_grace_s: float = 15.0) -> Audit:
        """Count losses, duplicates, missing events and leftover processes."""
        audit = Audit(runs=len(self.expected))
        for expectation in self.expected.values():
            self._audit_run(expectation, audit)
        audit.orphans = self._orphans(keep_servers, orphan_grace_s, audit)
        return audit

    def _audit_run(self, expectation: Expectation, audit: Audit) -> None:
        run_id = expectation.run_id
        view = self.view(run_id)
        if view is None:
            audit.lost += 1
            audit.problems.append(f"run {run_id}: not found")
            return
        audit.views[run_id] = view
        status = view["status"]
        if status not in expectation.statuses:
            audit.lost += 1
            audit.problems.append(f"run {run_id}: {status} ({view['reason']!r}), expected {set(expectation.statuses)}")
        events = self.client.get(f"/api/runs/{run_id}/events").json()["events"]
        lines = self.client.get(f"/api/runs/{run_id}/logs").json()["lines"]
        # Duplicates: one worker launch per attempt, and no more attempts than the retry policy allows.
        starts = Counter(e["attempt"] for e in events if e["type"] == "RUN_START")
        launched = self._launches(run_id)
        extra = sum(n - 1 for n in starts.values() if n > 1) + sum(n - 1 for n in launched.values() if n > 1)
        extra += max(0, len(launched) - expectation.max_attempts)
        if extra:
            audit.duplicated += extra
            audit.problems.append(f"run {run_id}: launched {dict(launched)}, RUN_START per attempt {dict(starts)}")
        audit.events_lost += self._missing(run_id, view, events, lines, expectation, audit)
        if status in TERMINAL and view.get("finished_at"):
            audit.recovery_s = max(audit.recovery_s, _detection_lag(view, events))

    def _missing(
        self,
        run_id: str,
        view: dict[str, Any],
        events: list[dict[str, Any]],
        lines: list[dict[str, Any]],
        expectation: Expectation,
        audit: Audit,
    ) -> int:
        missing = 0
        for kind, items in (("event", events), ("log line", lines)):
            for attempt in {item["attempt"] for item in items}:
                seqs = sorted(item["seq"] for item in items if item["attempt"] == attempt)
                gaps = seqs[-1] - len(seqs)  # numbered 1..n by the worker: a hole is a lost item
                if gaps:
                    missing += gaps
                    audit.problems.append(f"run {run_id}: {gaps} {kind}s missing in attempt {attempt}")
        types = [e["type"] for e in events if e["attempt"] == view["attempt"]]
        end = LIFECYCLE_END.get(view["status"])
        if view["status"] == "SUCCESS" and end not in types:
            missing += 1
            audit.problems.append(f"run {run_id}: SUCCESS without a {end} event: {types}")
        if view["status"] == "CANCELED" and "JOB_SUCCESS" in types:
            missing += 1
            audit.problems.append(
                f"run {run_id}: CANCELED ({view['reason']}) although its events say JOB_SUCCESS: {types}"
            )
        if view["status"] == "SUCCESS" and expectation.log_lines is not None:
            got = sum(1 for line in lines if line["attempt"] == view["attempt"])
            if got != expectation.log_lines:
                missing += abs(expectation.log_lines - got)
                audit.problems.append(f"run {run_id}: {got} log lines, expected {expectation.log_lines}")
        return missing

    def _launches(self, run_id: str) -> Counter[int]:
        """How many processes were started per attempt (a relaunched directory is kept as `.ended-*`)."""
        counts: Counter[int] = Counter()
        for directory in (self.state_dir / "runs").glob(f"run-{run_id}-a*"):
            if (directory / "pid.json").exists() or (directory / "exit.json").exists():
                attempt = int(directory.name.removeprefix(f"run-{run_id}-a").split(".", 1)[0])
                counts[attempt] += 1
        return counts

    def _orphans(self, keep_servers: set[str] | None, grace_s: float, audit: Audit) -> int:
        """Processes still running that should not be: workers of finished runs, replaced code servers."""
        deadline = time.monotonic() + grace_s
        while True:
            alive = self._alive_processes(keep_servers)
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        audit.problems.extend(f"left running: {what}" for what in alive)
        return len(alive)

    def _alive_processes(self, keep_servers: set[str] | None) -> list[str]:
        alive = []
        finished = {r for r, v in ((r, self.view(r)) for r in self.expected) if v and v["status"] in TERMINAL}
        for pid_file in self.state_dir.glob("*/*/pid.json"):
            directory = pid_file.parent
            kind = directory.parent.name
            if kind == "runs" and not any(directory.name.startswith(f"run-{r}-a") for r in finished):
                continue
            if kind == "servers" and (keep_servers is None or directory.name in keep_servers):
                continue
            try:
                info = json.loads(pid_file.read_text())
            except (OSError, ValueError):
                continue
            for role, pid_key, ticks_key in (
                ("process", "pid", "start_ticks"),
                ("shim", "shim_pid", "shim_start_ticks"),
            ):
                if is_same_process(int(info[pid_key]), int(info[ticks_key])):
                    alive.append(f"{kind}/{directory.name} {role} {info[pid_key]}")
        return alive


def _detection_lag(view: dict[str, Any], events: list[dict[str, Any]]) -> float:
    """Seconds from the worker's last event (its job ending) to the control plane showing the final status."""
    if not events:
        return 0.0
    last = max(datetime.fromisoformat(e["time"]) for e in events)
    finished = datetime.fromisoformat(view["finished_at"])
    return max(0.0, (finished - last).total_seconds())
