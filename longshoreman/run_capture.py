"""Line-by-line capture of sys.stdout and sys.stderr that still writes through to the real streams (tee).

Only text written through Python's sys.stdout/sys.stderr is captured; output a subprocess or a C
extension writes straight to file descriptor 1 or 2 reaches the real streams but is not captured.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

MAX_LINE = 64_000
LineSink = Callable[[str, str, float], None]
"""Receives (stream name, line without its newline, time.time() when the line began)."""


class TeeStream(io.TextIOBase):
    """A text stream that writes to `original` and hands every complete line to `sink`."""

    def __init__(self, original: TextIO | None, name: str, sink: LineSink) -> None:
        super().__init__()
        self._original = original
        self._name = name
        self._sink = sink
        self._lock = threading.Lock()
        self._partial: list[str] = []
        self._partial_len = 0
        self._partial_time = 0.0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        now = time.time()
        if self._original is not None:
            try:
                self._original.write(text)
                if "\n" in text:
                    # The launcher keeps the real stream in a file: flush per line so it stays current.
                    self._original.flush()
            except OSError:
                # The local copy is best effort (the launcher's disk may be full): the line still reaches the
                # control plane below, and the job must not fail because of where its output is kept.
                pass
        with self._lock:
            self._split(text, now)
        return len(text)

    def _split(self, text: str, now: float) -> None:
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                break
            self._append(text[start:end], now)
            self._emit(now)
            start = end + 1
        if start < len(text):
            self._append(text[start:], now)
            # A line that never ends (progress bars) is cut so memory stays bounded.
            if self._partial_len >= MAX_LINE:
                self._emit(now)

    def _append(self, fragment: str, now: float) -> None:
        if not self._partial:
            self._partial_time = now
        self._partial.append(fragment)
        self._partial_len += len(fragment)

    def _emit(self, now: float) -> None:
        line = "".join(self._partial)
        started = self._partial_time if self._partial else now
        self._partial.clear()
        self._partial_len = 0
        if line.endswith("\r"):
            line = line[:-1]
        self._sink(self._name, line[:MAX_LINE], started)

    def flush_partial(self) -> None:
        """Hand an unterminated last line to the sink."""
        with self._lock:
            if self._partial:
                self._emit(time.time())

    def flush(self) -> None:
        if self._original is not None:
            try:
                self._original.flush()
            except OSError:
                pass  # see write()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._original is not None and self._original.isatty()

    def fileno(self) -> int:
        if self._original is None:
            raise io.UnsupportedOperation("fileno")
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._original, "errors", None)

    def __getattr__(self, name: str) -> Any:
        # Anything else (e.g. `.buffer`, `.reconfigure`) is the real stream's.
        if name.startswith("__") or self.__dict__.get("_original") is None:
            raise AttributeError(name)
        return getattr(self._original, name)


class StdioCapture:
    """Replaces sys.stdout and sys.stderr with TeeStreams until `restore()`."""

    def __init__(self, sink: LineSink) -> None:
        self.original_stdout = sys.stdout
        self.original_stderr = sys.stderr
        self._stdout = TeeStream(sys.stdout, "stdout", sink)
        self._stderr = TeeStream(sys.stderr, "stderr", sink)
        sys.stdout = self._stdout
        sys.stderr = self._stderr

    def restore(self) -> None:
        """Put the real streams back and hand over unterminated last lines."""
        for stream in (self._stdout, self._stderr):
            stream.flush_partial()
            stream.flush()
        sys.stdout = self.original_stdout
        sys.stderr = self.original_stderr
