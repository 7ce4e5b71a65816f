"""The activity of the overhead benchmark's baseline: run the no-op job in a fresh run executor process.

It spawns the same run executor for the same job as a Longshoreman run worker does (without reporting to a
control plane) and waits for it, so the difference to a Longshoreman run is the orchestration: the control
plane, reports, tokens, supervision, idempotent launch.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from temporalio import activity

BENCH_DIR = Path(__file__).resolve().parent


@activity.defn
async def run_job(job: str) -> int:
    """Run `job` of the bench location in a fresh process and return its exit code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    env |= {"LONGSHOREMAN_RUN_ID": "baseline", "LONGSHOREMAN_RUN_MODULE": "jobs.scale", "LONGSHOREMAN_RUN_JOB": job}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "longshoreman",
        "execute-run",
        cwd=BENCH_DIR,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait()
