"""One exit watcher per process launcher: pidfds of the shims on the event loop, no polling.

A shim's pidfd becomes readable the moment the shim exits — right after it wrote `exit.json`, or when it
was killed. Every supervision activity waiting on that run awaits one shared future, so a thousand
supervised runs cost a thousand idle file descriptors, not a thousand poll loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import IO

from activities.launchers.process_files import is_same_process


class ExitWatcher:
    """Futures that complete when a given process exits."""

    def __init__(self) -> None:
        self._futures: dict[int, asyncio.Future[None]] = {}

    def exited(self, pid: int, start_ticks: int) -> asyncio.Future[None]:
        """A future done once process `pid` (started at `start_ticks`) has exited; done at once if it already has."""
        future = self._futures.get(pid)
        if future is not None and not future.done():
            return future
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        try:
            fd = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            future.set_result(None)
            return future
        # Checked after opening: the pidfd pins the process, so a matching start time proves it is ours.
        if not is_same_process(pid, start_ticks):
            os.close(fd)
            future.set_result(None)
            return future
        self._futures[pid] = future

        def on_exit() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._futures.pop(pid, None)
            if not future.done():
                future.set_result(None)

        loop.add_reader(fd, on_exit)
        return future

    def watched(self) -> int:
        """How many processes are being watched."""
        return len(self._futures)


async def readable_or_closed(pipe: IO[bytes], timeout_s: float) -> bool:
    """Wait until `pipe` has data or its writer closed it (at most `timeout_s`), then close our end.

    True if a byte arrived (the shim's "records written"); False on end of file or timeout.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = pipe.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready, timeout_s)
        return ready.done() and bool(os.read(fd, 1))
    finally:
        loop.remove_reader(fd)
        pipe.close()
