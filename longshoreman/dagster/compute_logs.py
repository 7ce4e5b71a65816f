"""The step processes' compute logs as the run's log lines: Dagster's captured stdout and stderr files, tailed.

With an executor that runs steps in child processes (the multiprocess executor), a step's output never passes
through the run worker's sys.stdout: the run-local instance then has Dagster's LocalComputeLogManager, which in
each step process redirects file descriptors 1 and 2 to one file per stream (and mirrors them to the process's
real streams), records a LOGS_CAPTURED event naming the file key and, when the process's steps are done,
touches a `complete` file. Each captured file is read from where the last read stopped while the step runs,
and to its end once complete: every line is handed on once, in order, with its stream.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager

from longshoreman.run_capture import MAX_LINE, LineSink

COMPUTE_LOGS_DIR = "compute_logs"
_STREAMS = {"stdout": ComputeIOType.STDOUT, "stderr": ComputeIOType.STDERR}


def local_compute_logs(directory: str) -> dict[str, object]:
    """The instance override that makes every step process capture its output under `directory`."""
    return {
        "module": "dagster._core.storage.local_compute_log_manager",
        "class": "LocalComputeLogManager",
        "config": {"base_dir": os.path.join(directory, COMPUTE_LOGS_DIR)},
    }


@dataclass
class _TailedFile:
    """One captured stream: where reading stopped and the bytes of a line not yet ended."""

    path: str
    stream: str
    offset: int = 0
    partial: bytes = b""
    partial_at: float = 0.0

    def read(self, sink: LineSink, final: bool) -> None:
        """Hand on the complete lines written since the last read (and, if `final`, an unended last one)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        now = time.time()
        self.offset += len(data)
        if data and not self.partial:
            self.partial_at = now
        buffer = self.partial + data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            self._emit(sink, buffer[start:end], self.partial_at if start == 0 else now)
            start = end + 1
        self.partial = buffer[start:]
        if self.partial and start:
            self.partial_at = now
        # A line that never ends (a progress bar) is cut so memory stays bounded; the last one ends with the file.
        while len(self.partial) >= MAX_LINE:
            self._emit(sink, self.partial[:MAX_LINE], self.partial_at)
            self.partial = self.partial[MAX_LINE:]
        if final and self.partial:
            self._emit(sink, self.partial, self.partial_at)
            self.partial = b""

    def _emit(self, sink: LineSink, raw: bytes, at: float) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = raw.decode("utf-8", errors="replace")
        # A line longer than a log line may be is handed on in pieces: cut, not lost.
        for start in range(0, max(len(text), 1), MAX_LINE):
            sink(self.stream, text[start : start + MAX_LINE], at)


@dataclass
class _Capture:
    """The files of one LOGS_CAPTURED event (one step process) and the file that says the capture ended."""

    complete_path: str
    files: list[_TailedFile] = field(default_factory=list)
    done: bool = False


class ComputeLogTail:
    """Follows the captures the run's LOGS_CAPTURED events announce and hands their lines to `sink`."""

    def __init__(self, manager: LocalComputeLogManager, run_id: Callable[[], str | None], sink: LineSink) -> None:
        self._manager = manager
        self._run_id = run_id
        self._sink = sink
        self._captures: dict[str, _Capture] = {}

    def captured(self, file_key: str) -> None:
        """Start following the capture of `file_key` (a LOGS_CAPTURED event's; seen again, it is ignored)."""
        run_id = self._run_id()
        if run_id is None or file_key in self._captures:
            return
        log_key = self._manager.build_log_key_for_run(run_id, file_key)
        files = [
            _TailedFile(self._manager.get_captured_local_path(log_key, IO_TYPE_EXTENSION[io_type]), stream)
            for stream, io_type in _STREAMS.items()
        ]
        self._captures[file_key] = _Capture(self._manager.complete_artifact_path(log_key), files)

    def poll(self, final: bool = False) -> None:
        """Read what the captures wrote since the last poll; `final`: the run is over, read every file to its end."""
        for capture in self._captures.values():
            if capture.done:
                continue
            # `complete` is checked before reading: whatever was written before it exists is read in this pass.
            ended = final or os.path.exists(capture.complete_path)
            for tailed in capture.files:
                tailed.read(self._sink, ended)
            capture.done = ended
