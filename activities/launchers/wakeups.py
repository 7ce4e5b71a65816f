"""Coroutines waiting for news about one server or worker, woken by a launcher's watch or poll (kubernetes, ecs).

The watch threads call `notify(name)` whenever the cache changes something about `name`; waiters
re-evaluate then, and at least every REEVALUATE_S (grace periods and timeouts end without an event).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from activities.launchers.base import Phase, ProcessView

REEVALUATE_S = 1.0


class Wakeups:
    """Futures per object name, resolved on the event loop's thread when the watch reports a change."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the waiters live on (notify comes from other threads)."""
        self._loop = loop

    def notify(self, name: str) -> None:
        """Thread-safe: wake whoever waits on `name`."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake, name)

    async def until_view(
        self, name: str, observe: Callable[[], Awaitable[ProcessView]], phases: frozenset[Phase], timeout_s: float
    ) -> ProcessView:
        """`observe()` once its phase is in `phases`, or its last value after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            changed = self._waiter(name)  # before observing: a change in between must not be missed
            try:
                view = await observe()
                remaining = deadline - loop.time()
                if view.phase in phases or remaining <= 0:
                    return view
                await asyncio.wait({changed}, timeout=min(remaining, REEVALUATE_S))
            finally:
                self._drop(name, changed)

    async def until(self, name: str, done: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `done()`; False if `timeout_s` passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            changed = self._waiter(name)
            try:
                if done():
                    return True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                await asyncio.wait({changed}, timeout=min(remaining, REEVALUATE_S))
            finally:
                self._drop(name, changed)

    def _waiter(self, name: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, set()).add(future)
        return future

    def _drop(self, name: str, future: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(name)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                del self._waiters[name]

    def _wake(self, name: str) -> None:
        for future in self._waiters.get(name, set()):
            if not future.done():
                future.set_result(None)
