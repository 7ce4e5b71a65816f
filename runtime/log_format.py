"""The log line format every Longshoreman process shares: text for people, or one JSON object per line.

Context fields (run id, location, workflow id, activity...) are attached to records as `record.context` (a
dict) by filters such as the agent's; both formats print them, so every line says what it is about.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context_suffix)s"


class ContextDefaults(logging.Filter):
    """Gives every record `context` and `context_suffix`, so the formats work for records without context."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Fill the attributes if absent; never drops a record."""
        context: dict[str, Any] = getattr(record, "context", None) or {}
        record.context = context
        pairs = " ".join(f"{key}={value}" for key, value in context.items())
        record.context_suffix = f" [{pairs}]" if pairs else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "context", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str, fmt: LogFormat, filters: Iterable[logging.Filter] = ()) -> logging.Handler:
    """Replace the root handlers with one stderr handler in `fmt`; `filters` run before ContextDefaults."""
    handler = logging.StreamHandler(sys.stderr)
    for extra in filters:
        handler.addFilter(extra)
    handler.addFilter(ContextDefaults())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
