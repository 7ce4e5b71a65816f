"""The store behind a log-store URL; each backend is imported only when its URL is used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from contracts.log_store_protocol import LogStore


class StoreError(Exception):
    """A store could not be written or read; the message is one readable line."""


class Store(Protocol):
    """Appends chunks of one attempt's JSON lines, and reads every chunk of a run back in order."""

    def append(self, attempt_prefix: str, chunk: int, data: bytes) -> None:
        """Write chunk number `chunk` (1, 2, ...) of the attempt under `attempt_prefix`."""
        ...

    def read(self, run_prefix: str) -> Iterator[tuple[int, bytes]]:
        """(attempt, JSON-lines bytes) of every chunk under `run_prefix`, attempts and chunks in order."""
        ...


def open_store(url: str) -> tuple[LogStore, Store]:
    """The parsed URL and its store; StoreError if the backend's package is missing."""
    try:
        where = LogStore.parse(url)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    try:
        if where.kind == "local":
            from longshoreman.compute_logs.local import LocalStore

            return where, LocalStore(where)
        if where.kind == "s3":
            from longshoreman.compute_logs.s3 import S3Store

            return where, S3Store(where)
        from longshoreman.compute_logs.azure_blob import BlobStore

        return where, BlobStore(where)
    except ImportError as exc:
        extra = "s3" if where.kind == "s3" else "azure"
        raise StoreError(
            f"the {where.kind} log store needs {exc.name or 'its client library'}: pip install 'longshoreman[{extra}]'"
        ) from None


def attempt_of(key: str, run_prefix: str) -> int | None:
    """The attempt number in a key below `run_prefix` ('<run prefix><attempt>/...'), or None."""
    head = key[len(run_prefix) :].split("/", 1)[0]
    return int(head) if head.isdigit() else None
