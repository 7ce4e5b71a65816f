"""The run executor's settings, read once from the LONGSHOREMAN_RUN_* environment the agent sets.

A plain class rather than pydantic-settings: the executor runs in user images with the standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PREFIX = "LONGSHOREMAN_"


class SettingsError(Exception):
    """The environment does not describe a run; the message is one readable line."""


class RunSettings:
    """Everything `longshoreman execute-run` needs to know about its run."""

    def __init__(
        self,
        *,
        run_id: str,
        module: str,
        job: str,
        attempt: int = 1,
        config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        control_plane_url: str | None = None,
        token: str | None = None,
        started_file: str | None = None,
        termination_file: str | None = None,
        flush_timeout_s: float = 300.0,
    ) -> None:
        self.run_id = run_id
        self.module = module
        self.job = job
        self.attempt = attempt
        self.config: dict[str, Any] = dict(config or {})
        self.tags: dict[str, str] = dict(tags or {})
        self.control_plane_url = control_plane_url
        self.token = token
        self.started_file = started_file
        self.termination_file = termination_file
        self.flush_timeout_s = flush_timeout_s

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunSettings:
        """Read LONGSHOREMAN_RUN_* and LONGSHOREMAN_CONTROL_PLANE_URL (SettingsError if invalid)."""

        def get(name: str) -> str | None:
            value = environ.get(PREFIX + name, "").strip()
            return value or None

        def required(name: str) -> str:
            value = get(name)
            if value is None:
                raise SettingsError(f"{PREFIX}{name} is not set")
            return value

        url, token = get("CONTROL_PLANE_URL"), get("RUN_TOKEN")
        if (url is None) != (token is None):
            missing = "RUN_TOKEN" if token is None else "CONTROL_PLANE_URL"
            raise SettingsError(f"{PREFIX}{missing} is not set (the control-plane URL and run token go together)")
        if url is not None and not url.startswith(("http://", "https://")):
            raise SettingsError(f"{PREFIX}CONTROL_PLANE_URL must start with http:// or https://")
        tags = _json_object("RUN_TAGS", get("RUN_TAGS"))
        if not all(isinstance(v, str) for v in tags.values()):
            raise SettingsError(f"{PREFIX}RUN_TAGS values must be strings")
        return cls(
            run_id=required("RUN_ID"),
            module=required("RUN_MODULE"),
            job=required("RUN_JOB"),
            attempt=_number("RUN_ATTEMPT", get("RUN_ATTEMPT") or "1", int, minimum=1),
            config=_json_object("RUN_CONFIG", get("RUN_CONFIG")),
            tags=tags,
            control_plane_url=url.rstrip("/") if url else None,
            token=token,
            started_file=get("STARTED_FILE"),
            termination_file=get("TERMINATION_FILE"),
            # Long enough to outlast a control-plane outage (restart, upgrade): the run's events are delivered
            # late rather than lost; its final status waits for them.
            flush_timeout_s=_number("RUN_FLUSH_TIMEOUT_S", get("RUN_FLUSH_TIMEOUT_S") or "300", float, minimum=0),
        )

    def __repr__(self) -> str:
        # Never the token: settings may end up in a log line.
        return f"RunSettings(run_id={self.run_id!r}, attempt={self.attempt}, module={self.module!r}, job={self.job!r})"


def _json_object(name: str, raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{PREFIX}{name} must be a JSON object")
    return value


def _number(name: str, raw: str, kind: type[int] | type[float], *, minimum: float) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name} must be at least {minimum}")
    return value
