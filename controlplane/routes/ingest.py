"""Run-worker ingest: events and log lines, idempotent on (run, attempt, seq)."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.api import EventBatch, IngestResult, LogBatch
from controlplane.auth import RunWriter
from controlplane.metrics import count_ingest
from controlplane.services import ServicesDep

router = APIRouter(prefix="/api/runs", tags=["ingest"])


@router.post("/{run_id}/events")
def post_events(run_id: str, batch: EventBatch, services: ServicesDep, _: RunWriter) -> IngestResult:
    """Store a batch of events (run token of this run, or admin); already-stored ones count as duplicates."""
    result = services.runs.add_events(run_id, batch.events)
    count_ingest("event", result.accepted, result.duplicates)
    return result


@router.post("/{run_id}/logs")
def post_logs(run_id: str, batch: LogBatch, services: ServicesDep, _: RunWriter) -> IngestResult:
    """Store a batch of log lines (run token of this run, or admin); already-stored ones count as duplicates."""
    result = services.runs.add_logs(run_id, batch.lines)
    count_ingest("log", result.accepted, result.duplicates)
    return result
