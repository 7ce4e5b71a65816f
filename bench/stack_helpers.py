"""Shared plumbing of the benchmarks: a throw-away dev stack with the benchmark jobs deployed."""

from __future__ import annotations

import compileall
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contracts.api import LocationView, RunList
from contracts.locations import LocationSpec, SupervisionSettings
from longshoreman.cli.api_client import ApiClient
from longshoreman.dev.stack import DevStack, DevStackConfig

BENCH_DIR = Path(__file__).resolve().parent
LOCATION = "bench"
# What the agent, the control plane, the run workers and the baselines import from this checkout.
OWN_PACKAGES = ("agent", "activities", "bench", "contracts", "controlplane", "longshoreman", "runtime", "workflows")


def compile_sources() -> None:
    """Bytecode for this checkout's modules, as a wheel's install has (pip compiles at install time).

    An editable checkout run with PYTHONDONTWRITEBYTECODE set (as on the project's machines) has none for the
    modules only the agent imports; the workflow sandbox imports a workflow's module afresh for every workflow
    and so compiled `workflows/run_workflow.py` (and the bare baseline's workflow) from source each time, ~3% of
    the agent's CPU per run that no installed agent spends. compileall writes even under that variable.
    """
    for package in OWN_PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            compileall.compile_dir(location, quiet=1)


def say(message: str) -> None:
    """Progress on stderr; figures go to stdout."""
    print(f"  {message}", file=sys.stderr, flush=True)


@contextmanager
def bench_stack(
    agent_env: dict[str, str] | None = None,
    database_url: str | None = None,
    module: str = "jobs.scale",
    location_env: dict[str, str] | None = None,
    temporal_port: int = 0,
    temporal_env: dict[str, str] | None = None,
) -> Iterator[DevStack]:
    """A dev stack on free ports in a temporary directory, with the `bench` location (`module`, in bench/) LOADED;
    the control plane on `database_url` (default: a SQLite file there)."""
    compile_sources()
    with tempfile.TemporaryDirectory(prefix="longshoreman-bench-") as tmp:
        config = DevStackConfig(
            state_dir=Path(tmp),
            port=0,
            temporal_port=temporal_port,
            ui_port=0,
            agent_env=agent_env or {},
            database_url=database_url,
            temporal_env=temporal_env or {},
        )
        with DevStack(config, say=say) as stack:
            # A server healthy for 2 s counts as stable: the failure benchmark's kills are then one-off crashes.
            spec = LocationSpec(
                name=LOCATION,
                module=module,
                working_dir=str(BENCH_DIR),
                env=location_env or {},
                agent_queue=config.task_queue,
                supervision=SupervisionSettings(stable_after_s=2.0),
            )
            with stack.client() as client:
                client.send("POST", "/api/locations", spec, LocationView)
                stack.wait_loaded(client, LOCATION)
            yield stack


def count_runs(client: ApiClient, status: str) -> int:
    """How many runs of the bench location have `status` (the API pages at 1000)."""
    return len(client.get("/api/runs", RunList, location=LOCATION, status=status, limit=1000).runs)


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.5) -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate` until true; exit with a message after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, round(pct / 100 * len(ordered)))) - 1]


def summary(values: list[float]) -> str:
    """p50 / p95 / max of a list of seconds, in ms."""
    ms = [v * 1000 for v in values]
    return (
        f"p50 {percentile(ms, 50):7.0f} ms   p95 {percentile(ms, 95):7.0f} ms   max {max(ms):7.0f} ms"
        f"   mean {statistics.fmean(ms):7.0f} ms   (n={len(ms)})"
    )
