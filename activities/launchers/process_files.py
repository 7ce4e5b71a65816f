"""State files of the process launcher: one directory per server or worker under the agent's state dir."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from activities.launchers.base import Phase, ProcessView
from contracts.agent import StopResult

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp file, fsync, rename) so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if it does not exist (or is being replaced)."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def proc_start_ticks(pid: int) -> int | None:
    """Start time of a live (non-zombie) process in clock ticks since boot, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_same_process(pid: int, start_ticks: int) -> bool:
    """True if `pid` is alive and is the process that started at `start_ticks` (guards against pid reuse)."""
    return proc_start_ticks(pid) == start_ticks


def tail(path: Path, max_bytes: int) -> str:
    """The last `max_bytes` of a text file, starting at a line boundary."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace")
    if size > max_bytes and "\n" in text:
        text = text.split("\n", 1)[1]
    return text


def exited_view(directory: Path, ended: dict[str, object]) -> ProcessView:
    """The view of an ended process from its exit.json record (and the executor's termination message)."""
    message = tail(directory / "termination", 2000).strip() or str(ended.get("error") or "")
    code = ended.get("exit_code")
    sig = ended.get("signal")
    return ProcessView(
        phase=Phase.EXITED,
        exit_code=int(code) if isinstance(code, int) else None,
        signal=int(sig) if isinstance(sig, int) else None,
        message=message,
    )


def stop_result(detail: str, ended: dict[str, Any] | None, directory: Path) -> StopResult:
    """A stop's result with how the process ended, if the shim recorded it: that tells a run that finished by
    itself (a cancel racing its completion) from one the stop ended."""
    if ended is None:
        return StopResult(stopped=True, detail=detail)
    view = exited_view(directory, ended)
    return StopResult(stopped=True, detail=detail, exit_code=view.exit_code, signal=view.signal)
