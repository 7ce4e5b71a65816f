"""A small httpx wrapper for the control plane's REST API that turns every failure into one readable error."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)


class CliError(Exception):
    """An error the CLI reports as one line on stderr before exiting with a non-zero code."""

    exit_code = 1


class ApiError(CliError):
    """The control plane answered with an error, or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def error_detail(response: httpx.Response) -> str:
    """The one-line message of an error response: its `detail`, flattened when FastAPI sends a list."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail: Any = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        # FastAPI's validation errors: [{"loc": [...], "msg": "..."}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        detail = "; ".join(parts)
    if not detail:
        detail = response.text.strip() or response.reason_phrase
    return " ".join(str(detail).split())


class ApiClient:
    """Synchronous client of the control plane; every method returns a contracts model or raises ApiError."""

    def __init__(self, url: str, token: str | None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send one request and return the decoded JSON body (None when empty); raise ApiError otherwise."""
        # An empty dict would make httpx drop a query string written into `path`: pass None instead.
        params = {k: v for k, v in (params or {}).items() if v is not None} or None
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            raise ApiError(f"cannot reach the control plane at {self.url}: {_reason(exc)}") from exc
        except httpx.TimeoutException as exc:
            raise ApiError(f"the control plane at {self.url} did not answer in time ({method} {path})") from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"request to the control plane at {self.url} failed: {_reason(exc)}") from exc
        if response.status_code >= 400:
            detail = error_detail(response)
            if response.status_code == 401:
                detail += " (set LONGSHOREMAN_TOKEN or run `longshoreman dev` to create credentials)"
            raise ApiError(f"{detail} (HTTP {response.status_code})", response.status_code)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"the control plane at {self.url} sent a non-JSON answer to {method} {path}") from exc

    def get(self, path: str, model: type[T], **params: Any) -> T:
        """GET `path` and parse the body as `model`."""
        return self._parse(model, self.request("GET", path, params=params))

    def send(self, method: str, path: str, body: BaseModel | None, model: type[T]) -> T:
        """POST/PUT/DELETE `body` (a contracts model) to `path` and parse the answer as `model`."""
        payload = body.model_dump(mode="json", exclude_unset=False) if body is not None else None
        return self._parse(model, self.request(method, path, json=payload))

    def _parse(self, model: type[T], data: Any) -> T:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ApiError(f"unexpected answer from the control plane: {exc.errors()[0]['msg']}") from exc


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text or type(exc).__name__


def connect() -> ApiClient:
    """A client configured from CliSettings (env vars, then the dev stack's credentials file)."""
    from longshoreman.cli.settings import CliSettings

    settings = CliSettings()
    return ApiClient(settings.resolved_url(), settings.resolved_token())
