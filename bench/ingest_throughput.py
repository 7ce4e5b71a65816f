"""Event-ingest throughput of the control plane: batches of 500 events over real HTTP into SQLite.

Usage: .venv/bin/python bench/ingest_throughput.py [--batches 200] [--batch-size 500] [--clients 1]
Starts a Temporal dev server and a control-plane subprocess in a temp dir, launches one run, then posts
pre-built event batches with the run's token and prints events/s (new events, then re-posted duplicates).
Also measures the storage layer alone (RunStore.add_events, no HTTP).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from contracts.runs import RunEvent
from controlplane import schema
from controlplane.database import Database
from controlplane.run_store import RunStore
from controlplane.secret_env import SecretEnvSealer
from controlplane.tables import RunRow
from longshoreman.dev.temporal_server import TemporalDevServer, free_port
from runtime.codec import generate_keyring


def batch_bodies(batches: int, size: int, first_seq: int = 1) -> list[bytes]:
    """Pre-serialised EventBatch bodies so the client side costs little."""
    now = datetime.now(UTC).isoformat()
    bodies = []
    for b in range(batches):
        start = first_seq + b * size
        events = [
            {"seq": s, "time": now, "type": "LOG", "message": f"event number {s} of the benchmark run"}
            for s in range(start, start + size)
        ]
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def start_control_plane(root: Path, temporal: TemporalDevServer) -> tuple[subprocess.Popen[bytes], str, str]:
    """The control plane as a subprocess; returns (process, url, admin token)."""
    port, token = free_port(), secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    env.update(
        LONGSHOREMAN_DATABASE_URL=f"sqlite:///{root / 'cp.db'}",
        LONGSHOREMAN_PORT=str(port),
        LONGSHOREMAN_TEMPORAL__ADDRESS=temporal.address,
        LONGSHOREMAN_ADMIN_TOKEN=token,
        LONGSHOREMAN_LOG_LEVEL="warning",
        # The benchmark measures ingest, not Temporal payloads: a throwaway payload key.
        LONGSHOREMAN_ENCRYPTION_KEYS=generate_keyring(["bench"]).format().strip(),
    )
    with open(root / "cp.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "controlplane"], env=env, stdout=log, stderr=log, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                return process, url, token
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("control plane did not start; see " + str(root / "cp.log"))


def prepare_run(url: str, admin_token: str) -> tuple[str, str]:
    """A location with one job, a run of it, and a run token; returns (run id, run token)."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"})
    agent_token = admin.post("/api/tokens", json={"kind": "agent", "name": "bench", "queues": ["*"]}).json()["token"]
    agent = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {agent_token}"})
    admin.post("/api/locations", json={"name": "bench", "module": "bench.defs", "agent_queue": "bench-no-agent"})
    report = {"name": "bench", "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": [{"name": "j"}]}}
    agent.put("/api/agent/locations/bench/report", json=report).raise_for_status()
    run_id = admin.post("/api/runs", json={"location": "bench", "job": "j"}).json()["run"]["id"]
    run_token = agent.post(f"/api/agent/runs/{run_id}/token", json={"attempt": 1}).json()["token"]
    return run_id, run_token


def post_all(url: str, run_id: str, token: str, bodies: list[bytes], clients: int) -> tuple[float, int, int]:
    """Post every body (split across `clients` threads); returns (seconds, accepted, duplicates)."""
    totals = [0, 0]
    lock = threading.Lock()

    def worker(part: list[bytes]) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for body in part:
                response = client.post(f"/api/runs/{run_id}/events", content=body)
                response.raise_for_status()
                result = response.json()
                with lock:
                    totals[0] += result["accepted"]
                    totals[1] += result["duplicates"]

    threads = [threading.Thread(target=worker, args=(bodies[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, totals[0], totals[1]


def storage_only(root: Path, batches: int, size: int) -> float:
    """events/s of RunStore.add_events on a SQLite file, without HTTP."""
    db = Database(f"sqlite:///{root / 'store.db'}")
    schema.prepare(db)
    with db.write() as session:
        session.add(
            RunRow(id="r", location="l", job="j", config={}, tags={}, request={}, status="QUEUED",
                   start_timeout_s=1, retry={}, workflow_id="run:r")
        )  # fmt: skip
    store = RunStore(db, SecretEnvSealer(None))
    now = datetime.now(UTC)
    payloads = [
        [RunEvent(seq=s, time=now, type="LOG", message=f"event {s}") for s in range(b * size + 1, (b + 1) * size + 1)]
        for b in range(batches)
    ]
    started = time.perf_counter()
    for events in payloads:
        store.add_events("r", events)
    elapsed = time.perf_counter() - started
    db.dispose()
    return batches * size / elapsed


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        temporal = TemporalDevServer(db_file=root / "temporal.db", headless=True).start()
        process, url, admin_token = start_control_plane(root, temporal)
        try:
            run_id, run_token = prepare_run(url, admin_token)
            bodies = batch_bodies(args.batches, args.batch_size)
            total = args.batches * args.batch_size
            seconds, accepted, _ = post_all(url, run_id, run_token, bodies, args.clients)
            print(
                f"HTTP ingest, new events:   {total} events in {args.batches} batches of {args.batch_size}, "
                f"{args.clients} client(s): {seconds:.2f} s = {total / seconds:,.0f} events/s (accepted {accepted})"
            )
            seconds, _, duplicates = post_all(url, run_id, run_token, bodies, args.clients)
            print(
                f"HTTP ingest, re-posted:    {total} events: {seconds:.2f} s = {total / seconds:,.0f} events/s "
                f"(duplicates {duplicates})"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(15)
            temporal.stop()
        rate = storage_only(root, args.batches, args.batch_size)
        print(f"storage only (RunStore.add_events, SQLite file): {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
