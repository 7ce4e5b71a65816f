"""Run workers started ahead of their runs: Python up and the executor loaded, waiting for a run on a pipe.

A cold run worker costs two Python start-ups before the job runs (the shim, then the executor: ~30 ms on a
small machine, more than a short job itself). The process launcher keeps standbys per kind of worker (same
working directory and base environment, so the same interpreter settings): a launch hands its run to a
standby through the shim's stdin (process_shim.py, standby mode) and starts the next standby. One standby per
kind to begin with; each launch that finds none waiting (runs launched together: a burst, a run queue letting
several runs out at once) keeps one more waiting next time, up to MAX_PER_KIND.

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
MAX_PER_KIND = 4  # standbys waiting for one kind at most (each ~20 MB: Python with the executor loaded)

Key = tuple[str, tuple[tuple[str, str], ...]]
Adopt = Callable[["subprocess.Popen[bytes]"], None]


class StandbyWorkers:
    """Waiting run workers per (working directory, base environment): as many as launches came together."""

    def __init__(self, shim_command: list[str], worker_command: list[str], adopt: Adopt) -> None:
        self._shim = shim_command
        self._worker = worker_command
        self._adopt = adopt  # the launcher reaps every shim it started, standbys included
        self._ready: OrderedDict[Key, list[tuple[subprocess.Popen[bytes], float]]] = OrderedDict()
        self._wanted: dict[Key, int] = {}

    def _take(self, cwd: str, base_env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        """A standby for this kind of worker, if a live and recent one is waiting (it is no longer kept)."""
        key = _key(cwd, base_env)
        if key not in self._ready:
            return None  # the first launch of its kind: none was started yet
        waiting = self._ready[key]
        while waiting:
            shim, started = waiting.pop(0)
            if shim.poll() is None and time.monotonic() - started <= MAX_IDLE_S:
                return shim
            _discard(shim)
        self._wanted[key] = min(MAX_PER_KIND, self._wanted.get(key, 1) + 1)  # launches outran the standbys
        return None

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
        waiting = self._ready.setdefault(key, [])
        self._ready.move_to_end(key)
        if not Path(cwd).is_dir():
            return
        while len(waiting) < self._wanted.get(key, 1):
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
            waiting.append((shim, time.monotonic()))
        while len(self._ready) > MAX_KINDS:
            gone, shims = self._ready.popitem(last=False)
            self._wanted.pop(gone, None)
            for shim, _ in shims:
                _discard(shim)

    def close(self) -> None:
        """Let every waiting standby go (their shims kill the waiting executors)."""
        while self._ready:
            for shim, _ in self._ready.popitem()[1]:
                _discard(shim)


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
