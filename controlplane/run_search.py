"""Finding runs: the filters of `GET /api/runs` and its opaque page cursor."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select

from contracts.run_protocol import RunStatus
from controlplane.errors import Invalid
from controlplane.tables import RunRow


@dataclass(frozen=True)
class RunFilter:
    """Every filter a listing may combine (all must hold)."""

    location: str | None = None
    job: str | None = None
    statuses: tuple[RunStatus, ...] = ()
    tags: tuple[tuple[str, str | None], ...] = ()  # (key, value); value None: the run has the key
    created_after: datetime | None = None
    created_before: datetime | None = None
    parent_run_id: str | None = None


def parse_tag_filters(raw: list[str]) -> tuple[tuple[str, str | None], ...]:
    """`k=v` (the tag k has value v) or `k` (the run has tag k); Invalid, naming the parameter, otherwise."""
    parsed: list[tuple[str, str | None]] = []
    for text in raw:
        key, has_value, value = text.partition("=")
        if not key or '"' in key or "\\" in key:
            raise Invalid("query parameter tag: expected KEY=VALUE or KEY (a key without quotes or backslashes)")
        parsed.append((key, value if has_value else None))
    return tuple(parsed)


def encode_cursor(row: RunRow) -> str:
    """The cursor of the page after `row` (newest first: the runs created before it)."""
    raw = json.dumps([row.created_at.astimezone(UTC).isoformat(), row.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor continues after; Invalid if this API did not hand it out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, run_id = json.loads(raw)
        created = datetime.fromisoformat(when)
        if not isinstance(run_id, str) or created.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Invalid("query parameter cursor: not a cursor this API handed out (use next_cursor)") from None
    return created, run_id


def runs_query(where: RunFilter, cursor: str | None, limit: int) -> Select[Any]:
    """Runs matching `where`, newest first, after `cursor`, at most `limit`."""
    query = select(RunRow)
    if where.location is not None:
        query = query.where(RunRow.location == where.location)
    if where.job is not None:
        query = query.where(RunRow.job == where.job)
    if where.statuses:
        query = query.where(RunRow.status.in_([status.value for status in where.statuses]))
    for key, value in where.tags:
        tag = RunRow.tags[key].as_string()
        query = query.where(tag.is_not(None) if value is None else tag == value)
    if where.created_after is not None:
        query = query.where(RunRow.created_at >= where.created_after)
    if where.created_before is not None:
        query = query.where(RunRow.created_at < where.created_before)
    if where.parent_run_id is not None:
        query = query.where(RunRow.parent_run_id == where.parent_run_id)
    if cursor is not None:
        created, run_id = decode_cursor(cursor)
        query = query.where(or_(RunRow.created_at < created, and_(RunRow.created_at == created, RunRow.id < run_id)))
    return query.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit)
