"""A local (or mounted) directory: one JSON-lines file per attempt, appended to. Standard library only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from contracts.log_store_protocol import LOCAL_FILE, LogStore
from longshoreman.compute_logs.stores import StoreError


class LocalStore:
    """`<root>/<prefix>/<run id>/<attempt>/logs.jsonl`."""

    def __init__(self, where: LogStore) -> None:
        self._root = Path(where.root)

    def append(self, attempt_prefix: str, chunk: int, data: bytes) -> None:
        path = self._root / attempt_prefix / LOCAL_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # One write of whole lines with O_APPEND: a reader never sees half a batch.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None

    def read(self, run_prefix: str) -> Iterator[tuple[int, bytes]]:
        directory = self._root / run_prefix
        if not directory.is_dir():
            raise StoreError(f"no logs at {directory} (not on this machine, or not written yet)")
        attempts = sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())
        for attempt in attempts:
            path = directory / str(attempt) / LOCAL_FILE
            try:
                yield attempt, path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
