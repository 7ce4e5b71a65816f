"""The heartbeating wait loops every long activity uses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

T = TypeVar("T")
# The SDK sends the latest heartbeat at most every 0.8 x the heartbeat timeout (2 s: every 1.6 s); beating each
# second means there always is a fresh one to send, even while the event loop is busy.
HEARTBEAT_EVERY_S = 1.0


async def watch_until(step: Callable[[], Awaitable[T | None]]) -> T:
    """Repeat `step` — which itself waits a little — until it returns a value.

    Heartbeats every HEARTBEAT_EVERY_S meanwhile, however long a step takes (a slow health probe must not look
    like a dead agent). Cancellation by the workflow arrives as CancelledError through the heartbeat.
    When this agent shuts down, the activity fails at once with a retryable error and leaves the process
    alone: another agent (or this one restarted) retries the activity and re-attaches by handle — the
    work never depends on the agent.
    """
    shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
    beats = asyncio.ensure_future(_beat(HEARTBEAT_EVERY_S))
    current: asyncio.Future[T | None] | None = None
    try:
        while True:
            current = asyncio.ensure_future(step())
            await asyncio.wait({current, shutdown}, return_when=asyncio.FIRST_COMPLETED)
            if not current.done():
                raise ApplicationError(
                    "agent shutting down; supervision resumes on the next agent", type="AgentShutdown"
                )
            result = current.result()
            if result is not None:
                return result
    finally:
        for task in (current, shutdown, beats):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def poll_until(check: Callable[[], Awaitable[T | None]], interval_s: float) -> T:
    """Call `check` every `interval_s`, heartbeating, until it returns a value (for things with no events)."""

    async def step() -> T | None:
        result = await check()
        if result is None:
            await asyncio.sleep(interval_s)
        return result

    return await watch_until(step)


async def _beat(interval_s: float) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def heartbeating(interval_s: float = HEARTBEAT_EVERY_S) -> AsyncIterator[None]:
    """Heartbeat in the background while a long step runs (an image pull): a dead agent is noticed, a slow one not."""
    task = asyncio.ensure_future(_beat(interval_s))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
