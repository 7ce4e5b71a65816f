"""ECS API calls of the ecs launcher, against moto in server mode (real HTTP), counted by the launcher's client.

Three figures:
1. launch → RUNNING task handled, calls per run: N runs launched one after the other and seen RUNNING;
2. cancel → task stopped, calls per run: each of them stopped (StopTask, the stop marker, the wait for STOPPED);
3. supervision of M live tasks: DescribeTasks (and every other call) per minute, at the default poll interval,
   with nothing changing — what the agent costs the ECS API while runs are simply running.

The test hand (tests/support/aws.py) plays ECS's container agent: it marks each task RUNNING, and STOPPED with
exit code 143 once the stop reaches it. Runs are launched one after the other, so the poller's DescribeTasks
(one per 100 live tasks per poll, shared by every run) fall to one run at a time here: with many runs at once
they are shared, as the third figure shows. Figures are calls, not times: they do not depend on the machine.

    .venv/bin/python -m bench.ecs_calls [--runs 50] [--tasks 500] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter

from activities.launchers.base import Phase
from activities.launchers.ecs.launcher import EcsLauncher
from activities.launchers.ecs.settings import EcsLauncherSettings
from contracts.agent import LaunchRunInput
from contracts.locations import LocationSpec
from tests.support.aws import REGION, EcsHand, MotoServer

STARTED = frozenset({Phase.RUNNING, Phase.EXITED, Phase.LOST})


def run_input(run_id: str) -> LaunchRunInput:
    spec = LocationSpec(name="bench", launcher="ecs", module="jobs.definitions", image="bench:1")
    return LaunchRunInput(run_id=run_id, attempt=1, job="load", location=spec)


async def token() -> str:
    return "bench-token"


def as_ecs_answers(launcher: EcsLauncher, arn: str) -> None:
    """moto's RunTask answers with the task RUNNING at once; ECS answers PROVISIONING, and the launcher learns
    that it runs from a later DescribeTasks. Cache what ECS would have answered, so that describe is counted."""
    launcher.cache.tasks[arn]["lastStatus"] = "PROVISIONING"


def per_run(calls: Counter[str], runs: int) -> str:
    total = sum(calls.values())
    detail = ", ".join(f"{name} {count / runs:.2f}" for name, count in sorted(calls.items()))
    return f"{total / runs:.2f} calls per run ({detail})"


async def measure(args: argparse.Namespace, moto: MotoServer) -> None:
    hand = EcsHand(moto)
    settings = EcsLauncherSettings(
        region=REGION,
        endpoint_url=moto.url,
        cluster=hand.cluster,
        agent_name="bench",
        control_plane_url="http://control-plane:8000",
        subnets=[hand.network.subnet],
        security_groups=[hand.network.security_group],
        stop_timeout_s=2,
    )
    launcher = EcsLauncher(settings)
    try:
        before = Counter(launcher.api.calls)
        handles = []
        for i in range(args.runs):
            handle = await launcher.launch_worker(run_input(f"run{i:06d}"), token)
            as_ecs_answers(launcher, str(handle.ref["task"]))
            hand.running(str(handle.ref["task"]))
            await launcher.wait_worker(handle, STARTED, 30)
            handles.append(handle)
        launched = launcher.api.calls - before
        print(f"launch → RUNNING: {per_run(launched, args.runs)}")

        before = Counter(launcher.api.calls)
        for handle in handles:
            hand.exits_on_stop(str(handle.ref["task"]), 143)
            await launcher.stop_worker(handle.run_id, handle.attempt, 2)
        await asyncio.sleep(1)  # the stopped attempts' releases (task definition, secret) run in the background
        print(f"cancel → stopped:  {per_run(launcher.api.calls - before, args.runs)}")
    finally:
        await launcher.aclose()

    # Supervision: M live tasks, one launcher at the default poll interval, nothing else happening.
    moto.reset()
    hand = EcsHand(moto)
    settings = settings.model_copy(
        update={
            "cluster": hand.cluster,
            "subnets": [hand.network.subnet],
            "security_groups": [hand.network.security_group],
            "poll_interval_s": EcsLauncherSettings().poll_interval_s,
        }
    )
    launcher = EcsLauncher(settings)
    try:
        for i in range(args.tasks):
            handle = await launcher.launch_worker(run_input(f"live{i:06d}"), token)
            hand.running(str(handle.ref["task"]))
        await launcher.poller.next_cycle(120)
        before = Counter(launcher.api.calls)
        await asyncio.sleep(args.seconds)
        window = launcher.api.calls - before
        minutes = args.seconds / 60
        total = sum(window.values()) / minutes
        describes = window["ecs:DescribeTasks"] / minutes
        print(
            f"supervising {args.tasks} live tasks (poll every {settings.poll_interval_s:g} s, relist every "
            f"{settings.resync_interval_s:g} s): {describes:.1f} DescribeTasks/min, {total:.1f} calls/min in all "
            f"({', '.join(f'{k} {v / minutes:.1f}' for k, v in sorted(window.items()))})"
        )
    finally:
        await launcher.aclose()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="runs launched, then canceled, one after the other")
    parser.add_argument("--tasks", type=int, default=500, help="live tasks supervised at once")
    parser.add_argument("--seconds", type=float, default=60.0, help="supervision window")
    args = parser.parse_args(argv)
    moto = MotoServer().start()
    try:
        asyncio.run(measure(args, moto))
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
