"""Chaos: every fault of the fault-injection suite, N times each, against the real stack; a table of losses.

The scenarios are the ones tests/faults/ runs once each (tests/support/faults/): a real Temporal dev server, a
real control plane and real agents, code servers and run workers, and real faults (kill -9, SIGSTOP, a stopped
server, a full or read-only file system). Per fault the table gives: trials, runs launched, runs lost (not in
their expected final status), runs duplicated (a worker launched twice), events lost (holes in the numbered
events and log lines, or a final status the events contradict), orphans left (processes still running that
should not be), and the worst recovery time (per fault: how long after the fault things were right again).

    .venv/bin/python -m bench.chaos                      # defaults: 100 trials of faults 1-2, 20 of the others
    .venv/bin/python -m bench.chaos --trials 3           # every fault 3 times
    .venv/bin/python -m bench.chaos --only agent-kill,plane-down --trials 5
    .venv/bin/python -m bench.chaos --only none --fuzz 500   # only the schemathesis run, 500 examples per operation

The target is zero in every loss column. Needs root for the disk-full fault (a tmpfs mount).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack_helpers import say
from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.control_plane import ControlPlane
from tests.support.faults.agent_kill import AgentKilledAndRestarted, AgentKilledWithReplica
from tests.support.faults.audit import Audit
from tests.support.faults.cancel_race import CancelRacingCompletion
from tests.support.faults.crash_loop import CrashLoop
from tests.support.faults.disk_full import DiskFull
from tests.support.faults.duplicates import SameKeyAtOnce
from tests.support.faults.env import FaultEnv
from tests.support.faults.hung_server import HungServer
from tests.support.faults.hung_worker import HungWorker
from tests.support.faults.operator import OperatorSteering
from tests.support.faults.plane_outage import ControlPlaneOutage
from tests.support.faults.scenario import Scenario
from tests.support.faults.temporal_restart import TemporalRestart

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Fault:
    """One row of the table: how to make the scenario, its default trial count, and its own servers if any."""

    key: str
    make: Callable[[argparse.Namespace], Scenario]
    default_trials: int
    own_plane: bool = False
    own_temporal: bool = False


FAULTS = [
    Fault("agent-kill", lambda a: AgentKilledWithReplica(), 100),
    Fault("agent-restart", lambda a: AgentKilledAndRestarted(delay_s=a.agent_delay), 100),
    Fault("crash-loop", lambda a: CrashLoop(window_s=10), 20),
    Fault("plane-down", lambda a: ControlPlaneOutage(down_s=a.plane_down), 20, own_plane=True),
    Fault("temporal-restart", lambda a: TemporalRestart(down_s=a.temporal_down), 20, own_plane=True, own_temporal=True),
    Fault("hung-worker", lambda a: HungWorker(), 20),
    Fault("hung-server", lambda a: HungServer(), 20),
    Fault("same-key", lambda a: SameKeyAtOnce(), 20),
    Fault("cancel-race", lambda a: CancelRacingCompletion(), 20),
    Fault("disk-full", lambda a: DiskFull(), 20),
    Fault("operator", lambda a: OperatorSteering(), 20),
]


@dataclass
class Row:
    """The totals of one fault."""

    name: str
    trials: int = 0
    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    events_lost: int = 0
    orphans: int = 0
    errors: int = 0
    worst_recovery_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def add(self, audit: Audit) -> None:
        self.trials += 1
        self.runs += audit.runs
        self.lost += audit.lost
        self.duplicated += audit.duplicated
        self.events_lost += audit.events_lost
        self.orphans += audit.orphans
        self.worst_recovery_s = max(self.worst_recovery_s, audit.recovery_s)
        self.problems.extend(audit.problems)


def run_fault(fault: Fault, args: argparse.Namespace, temporal: TemporalDevServer, plane: ControlPlane) -> Row:
    """Set the scenario up once, then run its trials; a trial that blows up counts as an error."""
    scenario = fault.make(args)
    trials = args.trials if args.trials is not None else fault.default_trials
    row = Row(scenario.name)
    with tempfile.TemporaryDirectory(prefix=f"chaos-{fault.key}-") as tmp:
        root = Path(tmp)
        own_temporal = own_plane = None
        if fault.own_temporal:
            own_temporal = TemporalDevServer.headless_in(root).start()
        if fault.own_plane:
            own_plane = ControlPlane.start((own_temporal or temporal).address, root / "controlplane")
        env_plane = own_plane or plane
        env = FaultEnv(
            temporal=own_temporal or temporal,
            plane=env_plane,
            agent_token=env_plane.create_agent_token(f"chaos-{fault.key}"),
            root=root,
            prefix=uuid.uuid4().hex[:10],
        )
        try:
            scenario.setup(env)
            for i in range(trials):
                started = time.monotonic()
                try:
                    audit = scenario.trial(env)
                except Exception as err:
                    row.trials += 1
                    row.errors += 1
                    row.problems.append(f"trial {i + 1}: {type(err).__name__}: {str(err)[:400]}")
                    say(f"{fault.key} {i + 1}/{trials}: ERROR {type(err).__name__}: {str(err)[:200]}")
                    traceback.print_exc(file=sys.stderr)
                    continue
                row.add(audit)
                state = "clean" if audit.clean else f"NOT CLEAN {audit}"
                say(f"{fault.key} {i + 1}/{trials}: {time.monotonic() - started:.1f} s, {state}")
        except Exception as err:
            row.errors += 1
            row.problems.append(f"setup: {type(err).__name__}: {str(err)[:400]}")
            say(f"{fault.key}: setup failed: {err}")
        finally:
            env.close()
            teardown = getattr(scenario, "teardown", None)
            if teardown is not None:
                teardown(env)
            if own_plane is not None:
                own_plane.stop()
            if own_temporal is not None:
                own_temporal.stop()
    return row


def print_table(rows: list[Row], command: str) -> None:
    """The figures, one row per fault."""
    header = ("fault", "trials", "runs", "lost", "duplicated", "events lost", "orphans", "errors", "worst recovery")
    widths = (34, 6, 5, 5, 10, 11, 7, 6, 14)
    print(f"chaos: {command}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        cells = (
            row.name,
            row.trials,
            row.runs,
            row.lost,
            row.duplicated,
            row.events_lost,
            row.orphans,
            row.errors,
            f"{row.worst_recovery_s:.1f} s",
        )
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
    for row in rows:
        for problem in row.problems[:10]:
            print(f"  {row.name}: {problem}")


def fuzz(examples: int) -> int:
    """The schemathesis module of the suite with `examples` per operation and generation mode."""
    env = dict(os.environ, LONGSHOREMAN_FUZZ_EXAMPLES=str(examples))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults/test_api_fuzz.py"]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Run the chosen faults and print the table; exit 1 if any loss column is not zero."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help="trials of every fault (default: 100 / 20)")
    parser.add_argument("--only", default="", help=f"comma-separated faults: {', '.join(f.key for f in FAULTS)}")
    parser.add_argument("--agent-delay", type=float, default=20.0, help="agent down before its restart (s)")
    parser.add_argument("--plane-down", type=float, default=30.0, help="control-plane outage (s)")
    parser.add_argument("--temporal-down", type=float, default=5.0, help="Temporal outage (s)")
    parser.add_argument("--fuzz", type=int, default=0, help="also run schemathesis with N examples per operation")
    args = parser.parse_args(argv)
    chosen = [f for f in FAULTS if not args.only or f.key in args.only.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        root = Path(tmp)
        temporal = TemporalDevServer.headless_in(root).start()
        plane = ControlPlane.start(temporal.address, root / "controlplane")
        try:
            for fault in chosen:
                say(f"--- {fault.key}")
                rows.append(run_fault(fault, args, temporal, plane))
        finally:
            plane.stop()
            temporal.stop()
    print_table(rows, " ".join([".venv/bin/python -m bench.chaos", *(argv if argv is not None else sys.argv[1:])]))
    failed = any(r.lost or r.duplicated or r.events_lost or r.orphans or r.errors for r in rows)
    if args.fuzz:
        say(f"--- schemathesis, {args.fuzz} examples per operation")
        code = fuzz(args.fuzz)
        print(f"schemathesis ({args.fuzz} examples per operation and mode): {'passed' if code == 0 else 'FAILED'}")
        failed = failed or code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
