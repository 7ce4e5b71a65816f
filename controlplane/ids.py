"""Run and token identifiers."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last_ms = 0


def _monotonic_ms() -> int:
    # Two runs launched within one millisecond still get increasing ids, so sorting by id is creation order.
    global _last_ms
    with _lock:
        _last_ms = max(time.time_ns() // 1_000_000, _last_ms + 1)
        return _last_ms


def new_run_id() -> str:
    """A short, URL-safe, time-sortable id: 12 hex digits of Unix milliseconds + 8 random hex digits."""
    # 12 hex digits of milliseconds last until the year 10889; 8 would wrap every 49 days and break sorting.
    return f"{_monotonic_ms():012x}{secrets.token_hex(4)}"


def new_token_id() -> str:
    """Public id of a token (not the secret)."""
    return secrets.token_hex(8)
