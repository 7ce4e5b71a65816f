"""Concurrency limits of runs: their scopes (what a limit counts) and the API bodies that set and show them.

A scope is one short string, the limit's identity in the API, the CLI and a limits YAML file:

| scope | counts the runs holding a slot that ... |
|---|---|
| `deployment` | ... exist at all (a deployment-wide maximum) |
| `queue:NAME` | ... run on agent task queue NAME |
| `pool:NAME` | ... belong to a job declared with `@job(pool="NAME")` |
| `tag:KEY` | ... carry tag KEY, whatever its value |
| `tag:KEY=VALUE` | ... carry tag KEY with that value |
| `tag:KEY=*` | ... carry tag KEY: one limit per distinct value (`tag:table=*` 1: one run per table at a time) |

A run takes one slot in every *bucket* its limits give it (`tag:table=*` puts a run tagged table=orders in the
bucket `tag:table=orders`), and runs only while every bucket has room.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StrictInt

from contracts.run_protocol import POOL_PATTERN, RESERVED_TAG_PREFIX

MAX_LIMIT = 2**31 - 1
MAX_SCOPE_CHARS = 300
QUEUE_NAME = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")
EVERY_VALUE = "*"
# Bucket keys are stored (and indexed): a longer tag value is kept as its hash.
MAX_BUCKET_CHARS = 250
EXAMPLES = "deployment, queue:NAME, pool:NAME, tag:KEY, tag:KEY=VALUE or tag:KEY=*"


class LimitKind(StrEnum):
    """What a limit counts."""

    DEPLOYMENT = "deployment"
    QUEUE = "queue"
    POOL = "pool"
    TAG = "tag"


@dataclass(frozen=True)
class LimitScope:
    """A parsed scope: kind, name (queue, pool or tag key) and, for tags, the value (`*`: each value) or None."""

    kind: LimitKind
    name: str = ""
    value: str | None = None

    @property
    def per_value(self) -> bool:
        """One limit per distinct value of the tag."""
        return self.kind is LimitKind.TAG and self.value == EVERY_VALUE

    def __str__(self) -> str:
        if self.kind is LimitKind.DEPLOYMENT:
            return "deployment"
        suffix = f"={self.value}" if self.value is not None else ""
        return f"{self.kind.value}:{self.name}{suffix}"

    def bucket(self, queue: str | None, pool: str | None, tags: dict[str, str]) -> str | None:
        """The bucket a run with this queue, pool and tags takes under this limit, or None if it does not count."""
        if self.kind is LimitKind.DEPLOYMENT:
            return "deployment"
        if self.kind is LimitKind.QUEUE:
            return str(self) if queue == self.name else None
        if self.kind is LimitKind.POOL:
            return str(self) if pool == self.name else None
        if self.name not in tags:
            return None
        if self.value is None:
            return str(self)
        value = tags[self.name]
        if not self.per_value and value != self.value:
            return None
        return tag_bucket(self.name, value)

    def fixed_bucket(self) -> str | None:
        """The one bucket of this limit, or None for a per-value limit (a bucket per value)."""
        if self.per_value:
            return None
        if self.kind is LimitKind.TAG and self.value is not None:
            return tag_bucket(self.name, self.value)
        return str(self)

    def describe(self, bucket: str) -> str:
        """The limit in words, for a queued run's message: 'pool warehouse', 'tag table=orders', ..."""
        if self.kind is LimitKind.DEPLOYMENT:
            return "the deployment-wide limit"
        if self.kind is LimitKind.QUEUE:
            return f"queue '{self.name}'"
        if self.kind is LimitKind.POOL:
            return f"pool {self.name}"
        if self.value is None:
            return f"tag {self.name}"
        return f"tag {bucket.removeprefix('tag:')}"


def tag_bucket(key: str, value: str) -> str:
    """The bucket of the runs tagged key=value (a long one is named by a hash of its value)."""
    bucket = f"tag:{key}={value}"
    if len(bucket) > MAX_BUCKET_CHARS:
        bucket = f"tag:{key}=#sha256:{hashlib.sha256(value.encode()).hexdigest()}"
    return bucket


def parse_scope(text: str) -> LimitScope:
    """The scope `text` names; ValueError (one readable line) if it names none or a reserved tag."""
    if not isinstance(text, str) or not text or len(text) > MAX_SCOPE_CHARS:
        raise ValueError(f"a limit's scope is 1 to {MAX_SCOPE_CHARS} characters: {EXAMPLES}")
    if text == "deployment":
        return LimitScope(LimitKind.DEPLOYMENT)
    kind, sep, rest = text.partition(":")
    if not sep or kind not in {k.value for k in LimitKind} or kind == "deployment":
        raise ValueError(f"unknown limit scope (expected {EXAMPLES})")
    if kind == "queue":
        if not QUEUE_NAME.fullmatch(rest):
            raise ValueError("queue: a task queue name of letters, digits and . _ : / - (no patterns)")
        return LimitScope(LimitKind.QUEUE, rest)
    if kind == "pool":
        if not re.fullmatch(POOL_PATTERN, rest):
            raise ValueError("pool: a pool name of letters, digits and . _ - (as in @job(pool=...))")
        return LimitScope(LimitKind.POOL, rest)
    key, has_value, value = rest.partition("=")
    if not key.strip():
        raise ValueError("tag: a tag key is needed, as in tag:team, tag:team=ml or tag:table=*")
    if key.startswith(RESERVED_TAG_PREFIX):
        raise ValueError(f"tags under {RESERVED_TAG_PREFIX!r} are Longshoreman's own and cannot be limited")
    return LimitScope(LimitKind.TAG, key, value if has_value else None)


def _valid_scope(text: str) -> str:
    return str(parse_scope(text))


Scope = Annotated[str, AfterValidator(_valid_scope)]
MaxConcurrent = Annotated[
    StrictInt,
    Field(ge=0, le=MAX_LIMIT, description="Runs that may hold a slot at once (0 holds every run under it back)."),
]


class LimitSet(BaseModel):
    """Set (create or change) one limit."""

    max_concurrent: MaxConcurrent


class LimitView(BaseModel):
    """A limit and how full it is now."""

    scope: str
    max_concurrent: int
    in_use: int = Field(description="Runs holding a slot under this limit now (per-value limits: all values).")
    waiting: int = Field(description="Queued runs that fall under this limit.")
    in_use_by_value: dict[str, int] | None = Field(
        default=None, description="Per-value tag limits: runs holding a slot, per tag value."
    )
    updated_at: datetime


class LimitList(BaseModel):
    """Every limit, by scope."""

    limits: list[LimitView]


class LimitSync(BaseModel):
    """The whole set of limits (a limits YAML file): limits not named here are removed."""

    limits: dict[Scope, MaxConcurrent] = Field(default_factory=dict, max_length=1000)
    dry_run: bool = Field(default=False, description="Only say what would change.")


class LimitSyncResult(BaseModel):
    """What a sync changed (or, dry, would change), by scope."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    limits: list[LimitView]
