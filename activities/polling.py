"""The heartbeating wait loop every long activity uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

T = TypeVar("T")


async def poll_until(check: Callable[[], Awaitable[T | None]], interval_s: float) -> T:
    """Call `check` every `interval_s`, heartbeating, until it returns a value.

    Cancellation by the workflow arrives as CancelledError through the heartbeat. When this agent shuts
    down, the activity fails with a retryable error and leaves the process alone: another agent (or this
    one restarted) retries the activity and re-attaches by handle — the work never depends on the agent.
    """
    while True:
        result = await check()
        if result is not None:
            return result
        activity.heartbeat()
        if activity.is_worker_shutdown():
            raise ApplicationError("agent shutting down; supervision resumes on the next agent", type="AgentShutdown")
        await asyncio.sleep(interval_s)
