"""Automations on one dev stack: schedule tick lag, and the cost of many sensors.

Two phases, each on its own throw-away dev stack (Temporal dev server, control plane on SQLite, one agent with
the process launcher), location `bench` from bench/jobs/automations.py:

1. schedules: `--schedules` interval schedules ticking every `--every` s for `--seconds`: for each tick with a
   run, scheduled time → the run's STARTED (its workflow saw the run worker up) and scheduled time → the tick
   recorded, p50/p95; ticks with no run or a failed evaluation are counted. With `--breakdown`, where a tick's
   time goes, from the tick workflows' Temporal histories: scheduled time → workflow started, each activity's
   wait for an agent and its duration, and a run's workflow start → STARTED.
2. sensors: `--sensors` quiet sensors (each evaluates every `--interval` s and skips) for `--seconds`: agent and
   code-server CPU (% of one core) and RSS over the window after a warm-up; tick lag (the time between two ticks
   of a sensor minus its interval) p50/p95; ticks done against the ideal; Temporal history events per tick of a
   sensor workflow (the history a tick adds before continue-as-new).

    .venv/bin/python -m bench.automation_lag [--schedules 5] [--every 10] [--sensors 100] [--interval 5]
        [--seconds 120] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import sys
import time
from datetime import UTC, datetime

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import decode_search_attributes

from bench.stack_helpers import LOCATION, bench_stack, percentile, say, summary
from contracts.api import RunView
from contracts.automation_flows import sensor_workflow_id
from contracts.automations import AutomationList, TickList, TickOutcome
from contracts.temporal import SCHEDULE_TICK_WORKFLOW, run_workflow_id
from longshoreman.dev.stack import DevStack

WARM_UP_S = 15.0


def automations(stack: DevStack) -> AutomationList:
    """The bench location's schedules and sensors."""
    with stack.client(timeout_s=60) as client:
        return client.get("/api/automations", AutomationList, location=LOCATION)


def ticks_of(stack: DevStack, name: str) -> TickList:
    """A schedule's or sensor's ticks, newest first (up to 1000)."""
    with stack.client(timeout_s=60) as client:
        return client.get(f"/api/automations/{LOCATION}/{name}/ticks", TickList, limit=1000)


def wait_all_running(stack: DevStack, count: int) -> None:
    """Until the control plane knows `count` automations of the location (they start RUNNING by default)."""
    deadline = time.monotonic() + 120
    while len(automations(stack).automations) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {count} automations")
        time.sleep(0.5)


def schedule_phase(args: argparse.Namespace) -> None:
    """Phase 1: scheduled time → run STARTED."""
    env = {"BENCH_SCHEDULES": str(args.schedules), "BENCH_EVERY_S": str(args.every)}
    with bench_stack(module="jobs.automations", location_env=env) as stack:
        wait_all_running(stack, args.schedules)
        say(f"{args.schedules} schedules every {args.every:g} s; ticking for {args.seconds:.0f} s")
        time.sleep(args.seconds)
        started_lag: list[float] = []
        tick_lag: list[float] = []
        started_at: dict[str, float] = {}
        stages: dict[str, list[float]] = {}
        no_run = failed = 0
        with stack.client(timeout_s=60) as client:
            for item in automations(stack).automations:
                for tick in ticks_of(stack, item.name).ticks:
                    if tick.outcome is TickOutcome.FAILURE:
                        failed += 1
                    if tick.scheduled_time is None:
                        continue
                    tick_lag.append((_aware(tick.time) - _aware(tick.scheduled_time)).total_seconds())
                    if not tick.run_ids:
                        no_run += 1
                        continue
                    run = client.get(f"/api/runs/{tick.run_ids[0]}", RunView)
                    if run.started_at is not None:
                        started_lag.append((_aware(run.started_at) - _aware(tick.scheduled_time)).total_seconds())
                        started_at[run.id] = _aware(run.started_at).timestamp()
        if args.breakdown:
            assert stack.temporal is not None
            stages = asyncio.run(tick_stages(stack.temporal.address, started_at))
    print(f"schedules: {args.schedules} interval schedules every {args.every:g} s for {args.seconds:.0f} s")
    print(f"  ticks                          {len(tick_lag):6d}   (no run: {no_run}, failed: {failed})")
    if tick_lag:
        print(f"  scheduled -> tick recorded     {summary(tick_lag)}")
    if started_lag:
        print(f"  scheduled -> run STARTED       {summary(started_lag)}")
    for stage, values in stages.items():
        print(f"    {stage:45s} {summary(values)}")


async def tick_stages(address: str, started_at: dict[str, float]) -> dict[str, list[float]]:
    """Where the schedule ticks' time went, stage by stage, from their workflows' histories (seconds)."""
    temporal = await Client.connect(address)
    stages: dict[str, list[float]] = collections.defaultdict(list)
    async for execution in temporal.list_workflows(f"WorkflowType = '{SCHEDULE_TICK_WORKFLOW}'"):
        history = await temporal.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        first = history.events[0]
        attributes = decode_search_attributes(first.workflow_execution_started_event_attributes.search_attributes)
        scheduled = (attributes.get("TemporalScheduledStartTime") or [None])[0]
        if not isinstance(scheduled, datetime):
            continue
        previous = scheduled.timestamp()
        stage = "scheduled -> tick workflow started"
        names: dict[int, str] = {}
        for event in history.events:
            at = event.event_time.ToDatetime().replace(tzinfo=UTC).timestamp()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                pass  # the stage's default name
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                names[event.event_id] = name = event.activity_task_scheduled_event_attributes.activity_type.name
                stage = f"-> {name} scheduled"
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                stage = f"-> {names[event.activity_task_started_event_attributes.scheduled_event_id]} started"
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                stage = f"-> {names[event.activity_task_completed_event_attributes.scheduled_event_id]} done"
            elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
                stage = "-> marker recorded (a local activity, a patch)"
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                stage = "-> tick workflow completed"
            else:
                continue
            stages[stage].append(at - previous)
            previous = at
    for run_id, at in started_at.items():
        history = await temporal.get_workflow_handle(run_workflow_id(run_id)).fetch_history()
        launched = history.events[0].event_time.ToDatetime().replace(tzinfo=UTC).timestamp()
        stages["run workflow started -> run STARTED"].append(at - launched)
    return stages


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def history_events_per_tick(address: str, names: list[str]) -> float:
    """Mean events per tick in the sensors' current workflow runs (ticks since their last continue-as-new)."""
    temporal = await Client.connect(address)
    totals = []
    for name in names:
        history = await temporal.get_workflow_handle(sensor_workflow_id(LOCATION, name)).fetch_history()
        timers = sum(1 for e in history.events if e.HasField("timer_started_event_attributes"))
        if timers:
            totals.append(len(history.events) / timers)
    return sum(totals) / len(totals) if totals else 0.0


def sensor_phase(args: argparse.Namespace) -> None:
    """Phase 2: many quiet sensors."""
    env = {"BENCH_SENSORS": str(args.sensors), "BENCH_SENSOR_INTERVAL_S": str(args.interval)}
    with bench_stack(module="jobs.automations", location_env=env) as stack:
        agent = psutil.Process(stack.processes["agent"].popen.pid)
        wait_all_running(stack, args.sensors)
        say(f"{args.sensors} sensors every {args.interval:g} s; warming up {WARM_UP_S:.0f} s")
        time.sleep(WARM_UP_S)
        servers = [p for p in agent.children(recursive=True) if "code-server" in " ".join(p.cmdline())]
        before = {p.pid: p.cpu_times() for p in [agent, *servers]}
        t0, wall0 = time.monotonic(), time.time()
        peak = {"agent": 0, "server": 0}
        while time.monotonic() - t0 < args.seconds:
            peak["agent"] = max(peak["agent"], agent.memory_info().rss)
            peak["server"] = max(peak["server"], sum(p.memory_info().rss for p in servers))
            time.sleep(1)
        elapsed = time.monotonic() - t0

        def cpu(process: psutil.Process) -> float:
            now, then = process.cpu_times(), before[process.pid]
            return (now.user + now.system - then.user - then.system) / elapsed

        agent_cpu = cpu(agent)
        server_cpu = sum(cpu(p) for p in servers)
        names = [item.name for item in automations(stack).automations]
        lag: list[float] = []
        in_window = 0
        failed = 0
        for name in names:
            times = sorted(_aware(t.time).timestamp() for t in ticks_of(stack, name).ticks)
            failed += sum(1 for t in ticks_of(stack, name).ticks if t.outcome is TickOutcome.FAILURE)
            window = [t for t in times if wall0 <= t < wall0 + elapsed]
            in_window += len(window)
            lag.extend(max(0.0, later - earlier - args.interval) for earlier, later in itertools.pairwise(times))
        assert stack.temporal is not None
        events = asyncio.run(history_events_per_tick(stack.temporal.address, names))
    ideal = args.sensors * elapsed / args.interval
    print(f"sensors: {args.sensors} quiet sensors every {args.interval:g} s, {elapsed:.0f} s window")
    mib = {key: value / 2**20 for key, value in peak.items()}
    print(f"  agent CPU                      {agent_cpu * 100:6.1f} % of one core, RSS peak {mib['agent']:.0f} MB")
    print(f"  code server CPU                {server_cpu * 100:6.1f} % of one core, RSS peak {mib['server']:.0f} MB")
    print(f"  ticks in the window            {in_window:6d}   of {ideal:.0f} ideal ({failed} failed)")
    if lag:
        print(
            f"  tick lag (interval - {args.interval:g} s)    {summary(lag)}   p99 {percentile(lag, 99) * 1000:.0f} ms"
        )
    print(f"  history events per tick        {events:6.1f}   (continue-as-new every 100 ticks)")


def main(argv: list[str] | None = None) -> int:
    """Run both phases and print their figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--schedules", type=int, default=5)
    parser.add_argument("--every", type=float, default=10.0, help="schedule interval in seconds")
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5.0, help="sensor minimum interval in seconds")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long each phase measures")
    parser.add_argument("--breakdown", action="store_true", help="schedule ticks stage by stage")
    args = parser.parse_args(argv)
    if args.schedules:
        schedule_phase(args)
    if args.sensors:
        sensor_phase(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
