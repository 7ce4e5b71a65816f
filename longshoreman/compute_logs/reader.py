"""Reads a run's compute logs back from its store, with the reader's own credentials (the CLI's `run logs`)."""

from __future__ import annotations

import json
from typing import Any

from longshoreman.compute_logs.stores import StoreError, open_store


class StoreReader:
    """A run's lines in a store, each attempt's in order; remembers what it has returned (for --follow)."""

    def __init__(self, url: str, run_id: str) -> None:
        self.where, self._store = open_store(url)
        self._prefix = self.where.run_prefix(run_id)
        self._seen: dict[int, int] = {}  # attempt -> highest seq returned

    def new_lines(self) -> list[dict[str, Any]]:
        """Lines not returned yet: {seq, time, stream, line, attempt}."""
        fresh: list[dict[str, Any]] = []
        for attempt, data in self._store.read(self._prefix):
            for raw in data.splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue  # a line cut by a crash mid-write: the rest is still readable
                if not isinstance(line, dict) or line.get("seq", 0) <= self._seen.get(attempt, 0):
                    continue
                self._seen[attempt] = int(line["seq"])
                fresh.append(line | {"attempt": attempt})
        return fresh


__all__ = ["StoreError", "StoreReader"]
