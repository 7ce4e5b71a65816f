"""What an agent token may touch: the task queues it serves (glob patterns), nothing of other queues."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from controlplane.errors import Forbidden


@dataclass(frozen=True)
class QueueScope:
    """The queues an agent token serves; `patterns` None: any queue (tokens made before tokens had queues)."""

    patterns: tuple[str, ...] | None = None

    def allows(self, queue: str | None) -> bool:
        """True if the token may act on work of `queue` (unknown queue: only an unscoped token)."""
        if self.patterns is None:
            return True
        return queue is not None and any(fnmatchcase(queue, pattern) for pattern in self.patterns)

    def check(self, queue: str | None, what: str) -> None:
        """Forbidden (403) naming the queues unless the token may act on `what`, which is on `queue`."""
        if not self.allows(queue):
            served = ", ".join(self.patterns or ())
            raise Forbidden(f"this agent token serves task queue(s) {served}; {what} is on queue '{queue}'")


ANY_QUEUE = QueueScope()
