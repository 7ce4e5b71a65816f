"""The heartbeating wait loops every long activity uses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

T = TypeVar("T")


async def watch_until(step: Callable[[], Awaitable[T | None]]) -> T:
    """Repeat `step` — which itself waits, at most about a heartbeat interval — until it returns a value.

    Heartbeats between steps. Cancellation by the workflow arrives as CancelledError through the heartbeat.
    When this agent shuts down, the activity fails at once with a retryable error and leaves the process
    alone: another agent (or this one restarted) retries the activity and re-attaches by handle — the
    work never depends on the agent.
    """
    shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
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
            activity.heartbeat()
    finally:
        for task in (current, shutdown):
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


@contextlib.asynccontextmanager
async def heartbeating(interval_s: float = 2.0) -> AsyncIterator[None]:
    """Heartbeat in the background while a long step runs (an image pull): a dead agent is noticed, a slow one not."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval_s)

    task = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
