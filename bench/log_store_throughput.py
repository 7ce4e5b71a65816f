"""Compute-log stores: lines per second one run worker writes to S3 (moto) and Azure Blob (Azurite), and its
memory while it buffers.

For each store, `longshoreman execute-run` runs the example `count` job (N lines printed as fast as Python
prints them) with LONGSHOREMAN_RUN_LOG_STORE set and no control plane; the figure is N over the time from the
process's start to its exit (every line written to the store by then), next to the same job with no store.
The worker's resident memory is sampled every 10 ms: the buffer is bounded (8 MiB by default), so a store
slower than the job holds the job back instead of growing the worker. The emulators run on this machine: the
figures measure the worker and the client libraries, not S3's or Azure's latency.

    .venv/bin/python -m bench.log_store_throughput [--lines 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
from azure.storage.blob import BlobServiceClient

from contracts.log_store_protocol import LogStore
from tests.longshoreman.sdk_support import HELLO, run_env
from tests.support.aws import REGION, MotoServer
from tests.support.azure import AZURITE, HOW_TO_GET, Azurite


def one_run(env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one execute-run."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "longshoreman", "execute-run"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = 0
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"execute-run failed: {process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, peak / 2**20


def measure(name: str, lines: int, repeat: int, extra: dict[str, str]) -> None:
    times, peaks = [], []
    for i in range(repeat):
        env = run_env("count", HELLO, run_id=f"bench-{name}-{i}", LONGSHOREMAN_RUN_CONFIG=f'{{"n": {lines}}}')
        elapsed, peak = one_run(env | extra)
        times.append(elapsed)
        peaks.append(peak)
    median = statistics.median(times)
    print(
        f"{name:>10}: {lines / median:>9,.0f} lines/s (median of {repeat}, {lines:,} lines, "
        f"{median:.2f} s per run); peak RSS {max(peaks):.1f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not AZURITE.exists():
        raise SystemExit(f"Azurite is not installed: {HOW_TO_GET}")

    measure("no store", args.lines, args.repeat, {})
    moto = MotoServer().start()
    azurite = Azurite().start()
    try:
        moto.client("s3").create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3 = LogStore("s3", "bench", "logs", endpoint_url=moto.url, region=REGION).url()
        aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}
        measure("s3", args.lines, args.repeat, aws | {"LONGSHOREMAN_RUN_LOG_STORE": s3})
        BlobServiceClient.from_connection_string(azurite.connection_string).create_container("bench")
        blob = LogStore("azure-blob", "bench", "logs", endpoint_url=azurite.account_url).url()
        measure(
            "azure-blob",
            args.lines,
            args.repeat,
            {"LONGSHOREMAN_RUN_LOG_STORE": blob, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
        )
    finally:
        azurite.stop()
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
