"""TLS to Temporal: launch latency and the orchestration-overhead ratio with TLS on, next to plaintext, in one run.

Three dev stacks in turn, the same in all but the Temporal connection of the control plane, the agent and the
bare baseline: plaintext straight to the dev server; plaintext through a forwarding proxy (the proxy's own cost,
for reference); TLS through the same proxy terminating it (`tests/support/tls.py`: certificates made at start,
the server CA given by `LONGSHOREMAN_TEMPORAL__TLS__SERVER_CA_FILE`); and mTLS (a client certificate too). On
each: N pairs of a bare Temporal workflow and a Longshoreman no-op run, alternating
(`bench/orchestration_overhead.py`), and N runs' launch → first log line. The TLS cost is TLS minus proxy.

    .venv/bin/python -m bench.tls_overhead [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from bench.orchestration_overhead import interleaved
from bench.stack_helpers import LOCATION, bench_stack, percentile, say
from contracts.api import LaunchRunResponse, LogList
from contracts.runs import RunRequest
from longshoreman.cli.api_client import ApiClient
from longshoreman.cli.runs import wait_for_run
from longshoreman.dev.temporal_server import free_port
from tests.support.tls import Certificates, TlsTerminator

TLS = "LONGSHOREMAN_TEMPORAL__TLS__"


@dataclass
class Mode:
    """One way of reaching Temporal."""

    name: str
    proxy: bool = False
    tls: bool = False
    mtls: bool = False


MODES = (
    Mode("plaintext"),
    Mode("plaintext via proxy", proxy=True),
    Mode("TLS", True, True),
    Mode("mTLS", True, True, True),
)


@contextmanager
def front(mode: Mode, upstream: str, certs: Certificates) -> Iterator[str]:
    """The address the clients use for `mode`."""
    if not mode.proxy:
        yield upstream
        return
    with TlsTerminator(upstream, certs, require_client_cert=mode.mtls, tls=mode.tls) as proxy:
        yield proxy.address


def settings(mode: Mode, address: str, certs: Certificates) -> dict[str, str]:
    """The LONGSHOREMAN_TEMPORAL__* settings of `mode`."""
    env = {"LONGSHOREMAN_TEMPORAL__ADDRESS": address}
    if mode.tls:
        env[TLS + "SERVER_CA_FILE"] = str(certs.ca)
    if mode.mtls:
        env[TLS + "CLIENT_CERT_FILE"] = str(certs.client_cert)
        env[TLS + "CLIENT_KEY_FILE"] = str(certs.client_key)
    return env


async def bare_client(mode: Mode, address: str, certs: Certificates) -> Client:
    """The bare baseline's client, connected as the stack's processes are."""
    if not mode.tls:
        return await Client.connect(address)
    tls = TLSConfig(
        server_root_ca_cert=certs.ca.read_bytes(),
        client_cert=certs.client_cert.read_bytes() if mode.mtls else None,
        client_private_key=certs.client_key.read_bytes() if mode.mtls else None,
    )
    return await Client.connect(address, tls=tls)


def launch_latency(client: ApiClient, runs: int) -> list[float]:
    """Seconds from POST /api/runs to the timestamp of the run's first log line, `runs` times in a row."""
    found: list[float] = []
    for _ in range(runs):
        t0 = time.time()
        run_id = client.send(
            "POST", "/api/runs", RunRequest(location=LOCATION, job="nap", config={"seconds": 0}), LaunchRunResponse
        ).run.id
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = client.get(f"/api/runs/{run_id}/logs", LogList).lines
            if lines:
                found.append(lines[0].time.timestamp() - t0)
                break
            time.sleep(0.01)
        wait_for_run(client, run_id, timeout_s=60)
        time.sleep(0.3)
    return found


def measure(mode: Mode, runs: int, certs: Certificates) -> tuple[list[float], list[float], list[float]]:
    """(bare, ours, launch → first log line) seconds for `mode`."""
    port = free_port()
    upstream = f"127.0.0.1:{port}"
    with front(mode, upstream, certs) as address:
        env = settings(mode, address, certs)
        with bench_stack(temporal_port=port, temporal_env=env) as stack, stack.client() as client:
            bare, ours = asyncio.run(_pairs(mode, address, certs, client, runs))
            latency = launch_latency(client, runs)
    return bare, ours, latency


async def _pairs(
    mode: Mode, address: str, certs: Certificates, client: ApiClient, runs: int
) -> tuple[list[float], list[float]]:
    return await interleaved(await bare_client(mode, address, certs), client, runs, 0.25)


def main(argv: list[str] | None = None) -> int:
    """Measure every mode and print the figures side by side."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="longshoreman-tls-bench-") as tmp:
        certs = Certificates.make(Path(tmp))
        for mode in MODES:
            say(f"--- {mode.name}")
            bare, ours, latency = measure(mode, args.runs, certs)
            rows.append((mode.name, bare, ours, latency))
    print(f"TLS to Temporal: no-op runs, {args.runs} pairs and {args.runs} launches per mode, p50 (p95) in ms")
    print(f"  {'mode':22} {'bare wf':>14} {'Longshoreman':>14} {'ratio':>6} {'launch->1st log':>16}")
    for name, bare, ours, latency in rows:
        b50, o50, l50 = (percentile(v, 50) * 1000 for v in (bare, ours, latency))
        b95, o95, l95 = (percentile(v, 95) * 1000 for v in (bare, ours, latency))
        print(f"  {name:22} {b50:6.0f} ({b95:5.0f}) {o50:6.0f} ({o95:5.0f}) {o50 / b50:5.2f}x {l50:8.0f} ({l95:5.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
