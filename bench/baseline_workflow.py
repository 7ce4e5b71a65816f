"""The baseline of the overhead benchmark: a bare Temporal workflow with one activity doing the same work.

The activity spawns the same run executor for the same no-op job (without reporting to a control plane) and
waits for it, so the difference to a Longshoreman run is the orchestration: the control plane, reports,
tokens, supervision, idempotent launch.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

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


@workflow.defn
class BareWorkflow:
    """Start one activity and return its result: the least a workflow engine can do for a job."""

    @workflow.run
    async def run(self, job: str) -> int:
        """Run the job through one activity."""
        return await workflow.execute_activity(run_job, job, start_to_close_timeout=timedelta(seconds=60))
