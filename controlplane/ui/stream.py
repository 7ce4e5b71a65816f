"""A run's page follows it live: server-sent events of its new log lines, events and status changes.

The stream reads the database every `ui_stream_poll_s` (any replica's ingest is seen, SQLite or PostgreSQL),
attempt after attempt, and ends once the run is final and everything of it was sent. A reconnecting
EventSource resumes where it stopped (Last-Event-ID). Of an attempt with more than `tail` lines only the last
`tail` are sent (a `skipped` event says how many were left out): a page stays light however much a run printed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from contracts.api import RunView
from controlplane.auth import Viewer
from controlplane.services import Services, ServicesDep
from controlplane.tables import RunLogRow

router = APIRouter()
# A proxy (or the browser) that hears nothing for long closes the stream: a comment line now and then.
KEEPALIVE_S = 15.0
DEFAULT_TAIL = 2000


@dataclass
class Position:
    """How far the stream got: (attempt, seq) of logs and of events."""

    attempt: int = 1
    log_seq: int = 0
    event_seq: int = 0

    def event_id(self) -> str:
        """The SSE id a reconnect sends back as Last-Event-ID."""
        return f"{self.attempt}:{self.log_seq}:{self.event_seq}"

    @classmethod
    def parse(cls, text: str | None) -> Position:
        """The position of a Last-Event-ID (from the start when absent or not ours)."""
        try:
            attempt, log_seq, event_seq = (int(part) for part in (text or "").split(":"))
        except ValueError:
            return cls()
        return cls(max(1, attempt), max(0, log_seq), max(0, event_seq))


def _sse(kind: str, data: Any, position: Position) -> str:
    return f"id: {position.event_id()}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def _status(run: RunView) -> dict[str, Any]:
    return run.model_dump(
        mode="json", include={"status", "reason", "message", "attempt", "started_at", "finished_at", "log_tail"}
    )


def _last_seq(services: Services, run_id: str, attempt: int) -> int:
    query = select(func.max(RunLogRow.seq)).where(RunLogRow.run_id == run_id, RunLogRow.attempt == attempt)
    with services.db.read() as db:
        return db.scalar(query) or 0


async def _follow(
    services: Services, run_id: str, position: Position, request: Request, tail: int
) -> AsyncIterator[str]:
    poll_s = services.settings.ui_stream_poll_s
    last_status: dict[str, Any] | None = None
    quiet_s = 0.0
    fresh_attempt = position.log_seq == 0
    while not await request.is_disconnected():
        run = await run_in_threadpool(services.runs.get, run_id)
        sent = False
        if fresh_attempt:
            fresh_attempt = False
            last = await run_in_threadpool(_last_seq, services, run_id, position.attempt)
            if last > tail:
                position.log_seq = last - tail
                yield _sse("skipped", {"attempt": position.attempt, "lines": position.log_seq}, position)
        logs = await run_in_threadpool(
            services.runs.logs, run_id, after_seq=position.log_seq, attempt=position.attempt, limit=2000
        )
        for line in logs.lines:
            position.log_seq = line.seq
            yield _sse("log", line.model_dump(mode="json"), position)
            sent = True
        events = await run_in_threadpool(
            services.runs.events, run_id, after_seq=position.event_seq, attempt=position.attempt, limit=2000
        )
        for event in events.events:
            position.event_seq = event.seq
            yield _sse("event", event.model_dump(mode="json"), position)
            sent = True
        status = _status(run)
        if status != last_status:
            last_status = status
            yield _sse("run", status, position)
            sent = True
        drained = len(logs.lines) < 2000 and len(events.events) < 2000
        if drained and run.attempt > position.attempt:
            position.attempt, position.log_seq, position.event_seq = position.attempt + 1, 0, 0
            fresh_attempt = True
            continue
        if drained and run.status.is_terminal:
            yield _sse("end", status, position)
            return
        quiet_s = 0.0 if sent else quiet_s + poll_s
        if quiet_s >= KEEPALIVE_S:
            quiet_s = 0.0
            yield ": keepalive\n\n"
        if drained:
            await asyncio.sleep(poll_s)


@router.get("/ui/runs/{run_id}/stream")
async def stream_run(
    run_id: str,
    request: Request,
    services: ServicesDep,
    _: Viewer,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    tail: Annotated[
        int, Query(ge=1, le=100_000, description="At most this many lines of each attempt.")
    ] = DEFAULT_TAIL,
) -> StreamingResponse:
    """text/event-stream of the run: `log`, `event` and `run` (status) events, then `end` once it is final;
    `skipped` when an attempt printed more than `tail` lines (the first ones are left out)."""
    await run_in_threadpool(services.runs.get, run_id)  # 404 before the stream starts
    position = Position.parse(last_event_id)
    return StreamingResponse(
        _follow(services, run_id, position, request, tail),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
