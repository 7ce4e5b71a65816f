"""Run workers started ahead of their runs: Python up and the executor loaded, waiting for a run on a pipe.

A cold run worker costs two Python start-ups before the job runs (the shim, then the executor: ~30 ms on a
small machine, more than a short job itself). The process launcher keeps one standby per kind of worker (same
working directory and base environment, so the same interpreter settings): a launch hands its run to the
standby through the shim's stdin (process_shim.py, standby mode) and starts the next standby.

A standby belongs to the agent that started it: when that agent stops or dies, the shim's stdin closes and
the shim kills its waiting executor. Standbys are replaced after MAX_IDLE_S, so none runs an SDK loaded long
before (an upgrade) for ever.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
MAX_IDLE_S = 600.0
MAX_KINDS = 4  # locations (kinds of worker) with a standby at once; the least recently used gives way

Key = tuple[str, tuple[tuple[str, str], ...]]
Adopt = Callable[["subprocess.Popen[bytes]"], None]


class StandbyWorkers:
    """At most one waiting run worker per (working directory, base environment)."""

    def __init__(self, shim_command: list[str], worker_command: list[str], adopt: Adopt) -> None:
        self._shim = shim_command
        self._worker = worker_command
        self._adopt = adopt  # the launcher reaps every shim it started, standbys included
        self._ready: OrderedDict[Key, tuple[subprocess.Popen[bytes], float]] = OrderedDict()

    def _take(self, cwd: str, base_env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        """The standby for this kind of worker, if a live and recent one is waiting (it is no longer kept)."""
        entry = self._ready.pop(_key(cwd, base_env), None)
        if entry is None:
            return None
        shim, started = entry
        if shim.poll() is not None or time.monotonic() - started > MAX_IDLE_S:
            _discard(shim)
            return None
        return shim

    def start(
        self, cwd: str, base_env: dict[str, str], directory: Path, env: dict[str, str]
    ) -> subprocess.Popen[bytes] | None:
        """Run a launch in a waiting standby of its kind: its shim, now running the run; None if none could."""
        shim = self._take(cwd, base_env)
        if shim is None:
            return None
        try:
            assign(shim, directory, env)
        except OSError:
            return None  # it died a moment ago: the launch starts afresh
        return shim

    def refill(self, cwd: str, base_env: dict[str, str]) -> None:
        """Start a standby for this kind of worker unless one is waiting."""
        try:
            self._refill(cwd, base_env)
        except OSError as err:  # out of processes or descriptors: the next launch just starts cold
            log.warning("could not start a standby run worker in %s: %s", cwd, err)

    def _refill(self, cwd: str, base_env: dict[str, str]) -> None:
        key = _key(cwd, base_env)
        if key in self._ready:
            self._ready.move_to_end(key)
            return
        if not Path(cwd).is_dir():
            return
        shim = subprocess.Popen(
            [*self._shim, "--standby", "--", *self._worker, "--standby"],
            env=base_env,
            cwd=cwd,
            stdin=subprocess.PIPE,  # the run arrives here; closing it (or our death) ends the standby
            stdout=subprocess.PIPE,  # one byte when the run's pid.json is written
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._adopt(shim)
        self._ready[key] = (shim, time.monotonic())
        while len(self._ready) > MAX_KINDS:
            _discard(self._ready.popitem(last=False)[1][0])

    def close(self) -> None:
        """Let every waiting standby go (their shims kill the waiting executors)."""
        while self._ready:
            _discard(self._ready.popitem()[1][0])


def assign(shim: subprocess.Popen[bytes], directory: Path, env: dict[str, str]) -> None:
    """Hand a run to a standby: its directory (records, output) and its full environment."""
    assert shim.stdin is not None
    shim.stdin.write(json.dumps({"directory": str(directory), "env": env}).encode() + b"\n")
    shim.stdin.close()


def _key(cwd: str, base_env: dict[str, str]) -> Key:
    return cwd, tuple(sorted(base_env.items()))


def _discard(shim: subprocess.Popen[bytes]) -> None:
    for pipe in (shim.stdin, shim.stdout):
        if pipe is not None and not pipe.closed:
            pipe.close()
