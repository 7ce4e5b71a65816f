"""Posts a run's events and log lines to the control plane in batches, from a background thread.

Items are numbered when they are recorded (seq 1, 2, ... per kind for this attempt) so a retried batch is
recognised by the control plane's idempotent ingest. Items wait in a bounded buffer (keep_first + keep_last
items per kind). When it is full:
- while the control plane answers, the job waits for room (back-pressure, like a pipe): nothing is lost;
- while it is unreachable, the *middle* is dropped: the first `keep_first` and the last `keep_last` waiting
  items are kept (the start of an outage and its end are what people read), and once posting works again
  a LOGS_DROPPED / EVENTS_DROPPED event says how many were lost.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from contracts.run_protocol import EventType

Item = tuple[Any, ...]  # (seq, time, ...) — seq first, so delivered items are found by number
Warn = Callable[[str], None]
RETRYABLE_STATUSES = frozenset({408, 425, 429})
# Well under the control plane's default request limit (4 MiB): one item is at most 64 000 characters.
MAX_REQUEST_BYTES = 1024 * 1024
_LABELS = {"events": "events", "lines": "log lines"}


class BoundedBuffer:
    """A FIFO that keeps its first `keep_first` and last `keep_last` items and counts what it drops."""

    def __init__(self, keep_first: int, keep_last: int) -> None:
        self._keep_first = keep_first
        self._keep_last = keep_last
        self._head: deque[Item] = deque()
        self._tail: deque[Item] = deque()
        self.dropped = 0

    @property
    def full(self) -> bool:
        """The next append will drop an item."""
        return len(self) >= self._keep_first + self._keep_last

    def __len__(self) -> int:
        return len(self._head) + len(self._tail)

    def append(self, item: Item) -> None:
        """Add an item; if the buffer is full, drop the oldest item after the kept head."""
        if not self._tail and len(self._head) < self._keep_first:
            self._head.append(item)
            return
        self._tail.append(item)
        if len(self._tail) > self._keep_last:
            self._tail.popleft()
            self.dropped += 1

    def peek(self, limit: int) -> list[Item]:
        """Up to `limit` items from the front, without removing them."""
        items = [*(self._head[i] for i in range(min(limit, len(self._head))))]
        items.extend(self._tail[i] for i in range(min(limit - len(items), len(self._tail))))
        return items

    def discard_through(self, seq: int) -> None:
        """Remove the items numbered `seq` or lower (the ones just delivered)."""
        for part in (self._head, self._tail):
            while part and part[0][0] <= seq:
                part.popleft()
        # The kept head is the oldest *waiting* items: refill it so the next drop keeps them too.
        while self._tail and len(self._head) < self._keep_first:
            self._head.append(self._tail.popleft())


class RunEventSender:
    """Numbers, buffers and posts one run attempt's events and log lines (thread-safe)."""

    def __init__(
        self,
        base_url: str,
        run_id: str,
        attempt: int,
        token: str,
        *,
        warn: Warn,
        flush_interval_s: float = 0.1,
        batch_size: int = 500,
        keep_first_logs: int = 10_000,
        keep_last_logs: int = 10_000,
        keep_first_events: int = 1_000,
        keep_last_events: int = 1_000,
        request_timeout_s: float = 5.0,
        max_backoff_s: float = 2.0,
    ) -> None:
        url = urlsplit(base_url)
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port
        self._where = f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")  # no userinfo
        prefix = f"{url.path.rstrip('/')}/api/runs/{quote(run_id, safe='')}"
        self._paths = {"events": f"{prefix}/events", "lines": f"{prefix}/logs"}
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._attempt = attempt
        self._warn = warn
        self._interval = flush_interval_s
        self._batch = batch_size
        self._timeout = request_timeout_s
        self._max_backoff = max_backoff_s
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # the sender thread waits for items
        self._space = threading.Condition(lock)  # writers wait for room in a full buffer
        self._reachable = True
        self._events = BoundedBuffer(keep_first_events, keep_last_events)
        self._logs = BoundedBuffer(keep_first_logs, keep_last_logs)
        self._event_seq = 0
        self._log_seq = 0
        self._reported_drops = {"events": 0, "lines": 0}
        self.rejected = {"events": 0, "lines": 0}
        """How many events and log lines the control plane refused for good (they are not retried)."""
        self._closing = False
        self._last_send = float("-inf")
        self._conn: _Connection | None = None
        self._thread = threading.Thread(target=self._run, name="longshoreman-event-sender", daemon=True)

    def start(self) -> None:
        """Start the background thread that posts batches."""
        self._thread.start()

    def event(self, type: str, message: str = "", at: float | None = None) -> None:
        """Record an event (timestamped now unless `at` is given)."""
        at = time.time() if at is None else at
        with self._ready:
            self._wait_for_room(self._events)
            self._event_seq += 1
            self._events.append((self._event_seq, at, type, message))
            self._wake(len(self._events))

    def log(self, stream: str, line: str, at: float) -> None:
        """Record one log line of `stream` ("stdout" or "stderr") that began at `at`."""
        with self._ready:
            self._wait_for_room(self._logs)
            self._log_seq += 1
            self._logs.append((self._log_seq, at, stream, line))
            self._wake(len(self._logs))

    def pending(self) -> tuple[int, int]:
        """(events, log lines) not yet delivered."""
        with self._ready:
            return len(self._events), len(self._logs)

    def close(self, timeout_s: float) -> bool:
        """Deliver what is pending, waiting at most `timeout_s`; True if everything was delivered."""
        with self._ready:
            self._closing = True
            self._ready.notify()
            self._space.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return self.pending() == (0, 0)

    def _wait_for_room(self, buffer: BoundedBuffer) -> None:
        """Block (lock held) while `buffer` is full and the sender is delivering; else let it drop."""
        while (
            buffer.full
            and self._reachable
            and not self._closing
            and self._thread.is_alive()
            and threading.current_thread() is not self._thread
        ):
            self._space.wait(1.0)

    def _wake(self, size: int) -> None:
        # Waking the thread per item would cost a context switch per print: only the first and a full batch do.
        if size == 1 or size >= self._batch:
            self._ready.notify()

    def _run(self) -> None:
        failures = 0
        while True:
            with self._ready:
                while not (self._events or self._logs or self._closing):
                    self._ready.wait()
                if not (self._events or self._logs):
                    return
                if not failures:
                    self._linger()
                events = self._events.peek(self._batch)
                lines = self._logs.peek(self._batch)
            delivered = (not events or self._post("events", events)) and (not lines or self._post("lines", lines))
            self._last_send = time.monotonic()
            if delivered:
                if failures:
                    self._warn(f"control plane reachable again after {failures} failed attempt(s)")
                    self._set_reachable(True)
                failures = 0
                self._report_drops()
            else:
                failures += 1
                if failures == 1:
                    self._warn(f"control plane unreachable at {self._where}: buffering events and logs, retrying")
                    self._set_reachable(False)
                time.sleep(min(self._max_backoff, 0.1 * 2 ** (failures - 1)))

    def _linger(self) -> None:
        """Wait (lock held) until the flush interval since the last post is over, unless a batch is full."""
        deadline = self._last_send + self._interval
        while not self._closing and max(len(self._events), len(self._logs)) < self._batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._ready.wait(remaining)

    def _set_reachable(self, reachable: bool) -> None:
        with self._ready:
            self._reachable = reachable
            # Writers waiting for room must not wait for an outage to end: they drop instead.
            self._space.notify_all()

    def _post(self, kind: str, items: list[Item]) -> bool:
        """POST a batch, in requests of at most MAX_REQUEST_BYTES; True when all of it is done with (delivered,
        or rejected for good and dropped)."""
        for body, count, last_seq in _requests(kind, [self._encode(kind, item) for item in items]):
            answer = self._request(self._paths[kind], body)
            if answer is None:
                return False
            status, detail = answer
            if status >= 500 or status in RETRYABLE_STATUSES:
                return False
            if status >= 300:
                # Retrying cannot fix a rejected token or body: drop the batch, and say so once per kind.
                if not self.rejected[kind]:
                    self._warn(f"control plane rejected {_LABELS[kind]}: HTTP {status}: {detail}")
                self.rejected[kind] += count
            with self._ready:
                (self._events if kind == "events" else self._logs).discard_through(last_seq)
                self._space.notify_all()
        return True

    def _request(self, path: str, body: bytes) -> tuple[int, str] | None:
        """POST and return (status, detail), or None if the control plane could not be reached."""
        for fresh in (False, True):
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = self._connect()
                status, data, will_close = self._conn.post(path, body, self._headers)
            except OSError:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                # The server may have closed an idle keep-alive connection: one immediate retry on a new one.
                if reused and not fresh:
                    continue
                return None
            if will_close:
                self._conn.close()
                self._conn = None
            return status, _detail(data)
        return None

    def _connect(self) -> _Connection:
        # Imported here, in the sender's thread, off the job's start-up path. Plain http needs only sockets;
        # http.client (~14 ms of imports with ssl and email) only for https.
        if self._https:
            return _HttpsConnection(self._host, self._port, self._timeout)
        from longshoreman.plain_http import PlainConnection

        return PlainConnection(self._host, self._port, self._timeout)

    def _encode(self, kind: str, item: Item) -> dict[str, Any]:
        when = datetime.fromtimestamp(item[1], UTC).isoformat()
        if kind == "events":
            return {"seq": item[0], "time": when, "type": item[2], "message": item[3], "attempt": self._attempt}
        return {"seq": item[0], "time": when, "stream": item[2], "line": item[3], "attempt": self._attempt}

    def _report_drops(self) -> None:
        for kind, buffer, event_type in (
            ("lines", self._logs, EventType.LOGS_DROPPED),
            ("events", self._events, EventType.EVENTS_DROPPED),
        ):
            dropped = buffer.dropped - self._reported_drops[kind]
            if dropped > 0:
                self._reported_drops[kind] = buffer.dropped
                self.event(
                    event_type, f"{dropped} {_LABELS[kind]} were dropped while the control plane was unreachable"
                )


class _Connection(Protocol):
    """A keep-alive HTTP connection; OSError when it breaks."""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, bool]: ...
    def close(self) -> None: ...


class _HttpsConnection:
    """http.client's HTTPSConnection as a _Connection."""

    def __init__(self, host: str, port: int | None, timeout_s: float) -> None:
        from http.client import HTTPSConnection

        self._conn = HTTPSConnection(host, port, timeout=timeout_s)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, bool]:
        from http.client import HTTPException

        try:
            self._conn.request("POST", path, body, headers)
            response = self._conn.getresponse()
            return response.status, response.read(), response.will_close
        except HTTPException as exc:
            raise ConnectionError(f"bad answer from the control plane: {exc!r}") from exc

    def close(self) -> None:
        self._conn.close()


def _requests(kind: str, encoded: list[dict[str, Any]]) -> list[tuple[bytes, int, int]]:
    """Request bodies of at most MAX_REQUEST_BYTES (the control plane refuses larger ones with 413):
    (body, how many items, seq of the last one)."""
    bodies: list[tuple[bytes, int, int]] = []
    chunk: list[bytes] = []
    size, last_seq = 0, 0
    for item in encoded:
        data = json.dumps(item).encode()
        if chunk and size + len(data) + 1 > MAX_REQUEST_BYTES:
            bodies.append((_body(kind, chunk), len(chunk), last_seq))
            chunk, size = [], 0
        chunk.append(data)
        size += len(data) + 1
        last_seq = int(item["seq"])
    if chunk:
        bodies.append((_body(kind, chunk), len(chunk), last_seq))
    return bodies


def _body(kind: str, items: list[bytes]) -> bytes:
    return b'{"' + kind.encode() + b'":[' + b",".join(items) + b"]}"


def _detail(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data[:200].decode(errors="replace")
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)
