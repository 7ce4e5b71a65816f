"""Writes one run attempt's log lines to its store, in batches, from a background thread.

Lines are numbered as they come (seq 1, 2, ... for the attempt) and encoded at once as JSON lines; they wait
in a buffer of at most `max_buffer_bytes`. A batch is written when it reaches `batch_bytes` or has waited
`flush_interval_s`. When the buffer is full:
- while the store accepts writes, the job waits for room (back-pressure, like a pipe): nothing is lost;
- while it fails, new lines are counted and dropped (memory stays bounded), and once writing works again one
  line in the logs and a LOGS_DROPPED event say how many were lost.
A failed batch is kept and written again: the store sees every chunk number once, in order.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from contracts.log_store_protocol import LogStore
from longshoreman.compute_logs.stores import Store

Warn = Callable[[str], None]
DroppedEvent = Callable[[int], None]


class LogStoreWriter:
    """Buffers and writes one attempt's lines (thread-safe)."""

    def __init__(
        self,
        where: LogStore,
        store: Store,
        run_id: str,
        attempt: int,
        *,
        warn: Warn,
        on_dropped: DroppedEvent | None = None,
        flush_interval_s: float = 1.0,
        batch_bytes: int = 1024 * 1024,
        max_buffer_bytes: int = 8 * 1024 * 1024,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.where = where
        self._store = store
        self._prefix = where.attempt_prefix(run_id, attempt)
        self._warn = warn
        self._on_dropped = on_dropped
        self._interval = flush_interval_s
        self._batch_bytes = batch_bytes
        self._max_bytes = max(max_buffer_bytes, batch_bytes)
        self._max_backoff = max_backoff_s
        lock = threading.Lock()
        self._ready = threading.Condition(lock)
        self._space = threading.Condition(lock)
        self._lines: deque[bytes] = deque()
        self._bytes = 0
        self._seq = 0
        self._chunk = 0
        self._failing = False
        self._closing = False
        self._dropped = 0
        self._reported = 0
        self.written = 0
        """Lines written to the store so far."""
        self._thread = threading.Thread(target=self._run, name="longshoreman-log-store", daemon=True)

    def location(self) -> str:
        """Where this attempt's logs go, for people."""
        return f"{self.where.describe('').rstrip('/')}/{self._prefix}"

    def start(self) -> None:
        """Start the background thread that writes batches."""
        self._thread.start()

    def log(self, stream: str, line: str, at: float) -> None:
        """Record one line of `stream` ("stdout" or "stderr") that began at `at`."""
        with self._ready:
            self._seq += 1
            record = {"seq": self._seq, "time": datetime.fromtimestamp(at, UTC).isoformat(), "stream": stream}
            data = (json.dumps(record | {"line": line}, ensure_ascii=False) + "\n").encode()
            while self._bytes + len(data) > self._max_bytes and not self._failing and self._writing():
                self._space.wait(1.0)
            if self._bytes + len(data) > self._max_bytes:
                self._dropped += 1
                return
            self._lines.append(data)
            self._bytes += len(data)
            if len(self._lines) == 1 or self._bytes >= self._batch_bytes:
                self._ready.notify()

    def pending(self) -> int:
        """Lines not yet written."""
        with self._ready:
            return len(self._lines)

    def close(self, timeout_s: float) -> bool:
        """Write what is pending, waiting at most `timeout_s`; True if everything was written."""
        with self._ready:
            self._closing = True
            self._ready.notify()
            self._space.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return self.pending() == 0

    def _writing(self) -> bool:
        return not self._closing and self._thread.is_alive() and threading.current_thread() is not self._thread

    def _run(self) -> None:
        failures = 0
        batch: list[bytes] = []
        while True:
            with self._ready:
                if not batch:
                    while not (self._lines or self._closing):
                        self._ready.wait()
                    # A batch gathers for up to the flush interval from its first line (one write, not one a line).
                    deadline = time.monotonic() + self._interval
                    while not self._closing and self._bytes < self._batch_bytes:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._ready.wait(remaining)
                    if not self._lines:
                        return  # closing, nothing left
                    size = 0
                    while self._lines and size < self._batch_bytes:
                        size += len(self._lines[0])
                        batch.append(self._lines.popleft())
            data = b"".join(batch)
            try:
                self._store.append(self._prefix, self._chunk + 1, data)
            except Exception as exc:  # a store's client may raise anything: never lose the thread, retry
                failures += 1
                if failures == 1:
                    self._warn(f"cannot write the compute logs ({exc}): keeping them, retrying")
                self._set_failing(True)
                if self._closing and failures >= 3:
                    self._warn(f"giving up on {len(batch) + self.pending()} log lines: {exc}")
                    return
                time.sleep(min(self._max_backoff, 0.2 * 2 ** (failures - 1)))
                continue
            self._chunk += 1
            self.written += len(batch)
            with self._ready:
                self._bytes -= len(data)
                self._space.notify_all()
            batch = []
            if failures:
                self._warn(f"compute logs written again after {failures} failed attempt(s)")
                failures = 0
                self._set_failing(False)
            self._report_drops()

    def _set_failing(self, failing: bool) -> None:
        with self._ready:
            self._failing = failing
            self._space.notify_all()  # writers waiting for room drop instead while the store fails

    def _report_drops(self) -> None:
        with self._ready:
            dropped = self._dropped - self._reported
            self._reported = self._dropped
        if dropped > 0:
            self.log("stderr", f"[longshoreman: {dropped} log lines were dropped while the store failed]", time.time())
            if self._on_dropped is not None:
                self._on_dropped(dropped)
