"""Requests waiting for runs to finish, woken when this process (or, on PostgreSQL, any replica) ends a run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class RunWaiters:
    """Per run, the events of the requests waiting for it; set by the final statuses this process stores and, on
    PostgreSQL, by every replica's (controlplane/run_notices.py). A waiter also re-reads its run now and then.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @contextmanager
    def waiting(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set when `run_id` finishes, for the duration of the block."""
        event = asyncio.Event()
        self._waiting.setdefault(run_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(run_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[run_id]

    def finished(self, run_id: str) -> None:
        """Wake everyone waiting for `run_id` (call on the event loop)."""
        for event in self._waiting.get(run_id, ()):
            event.set()
