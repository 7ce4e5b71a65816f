"""The official client, configured from the settings, behind one async call with readable errors.

The `kubernetes` client is synchronous: calls run on a bounded thread pool of their own, so a slow API
server never starves the event loop or the default executor. Responses are read as raw JSON
(`_preload_content=False`): the cache and the reasons work on the API's own dicts.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from activities.launchers.kubernetes.settings import KubernetesLauncherSettings

Body = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = "longshoreman-agent"  # how the agent's requests show in the API server's audit log
# Retrying cannot fix these: the spec, the namespace or the agent's permissions are wrong.
FINAL_STATUSES = {400, 403, 404, 405, 409, 410, 415, 422}


class ApiError(Exception):
    """A failed API call: `status` is the HTTP status, 0 when the server could not be reached."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status} {reason})" if status else message)
        self.status = status
        self.reason = reason

    @property
    def final(self) -> bool:
        """Whether a retry of the same call is pointless."""
        return self.status in FINAL_STATUSES


def build_api_client(settings: KubernetesLauncherSettings) -> client.ApiClient:
    """An ApiClient for `api_url`, the pod's service account, or a kubeconfig, in that order."""
    configuration = client.Configuration()
    if settings.api_url:
        configuration.host = settings.api_url.rstrip("/")
        if settings.api_token is not None:
            configuration.api_key = {"BearerToken": settings.api_token.get_secret_value()}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        configuration.verify_ssl = settings.verify_tls
    elif settings.in_cluster or (settings.in_cluster is None and "KUBERNETES_SERVICE_HOST" in os.environ):
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(
            config_file=str(settings.kubeconfig) if settings.kubeconfig else None,
            context=settings.context,
            client_configuration=configuration,
        )
    # One connection per API thread and per watch, so nobody waits for a pooled connection.
    configuration.connection_pool_maxsize = settings.api_concurrency + 4 * len(settings.namespaces())
    return client.ApiClient(configuration)


class KubeApi:
    """The API groups the launcher uses and an async `call` for each request."""

    def __init__(self, settings: KubernetesLauncherSettings, api_client: client.ApiClient | None = None) -> None:
        self.settings = settings
        self.client = api_client or build_api_client(settings)
        self.client.user_agent = USER_AGENT
        self.core = client.CoreV1Api(self.client)
        self.apps = client.AppsV1Api(self.client)
        self.batch = client.BatchV1Api(self.client)
        self._pool = ThreadPoolExecutor(settings.api_concurrency, thread_name_prefix="k8s-api")

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Body:
        """`fn(*args, **kwargs)` on the API pool; the response body as a dict. Raises ApiError."""
        data = await self.text(fn, *args, **kwargs)
        try:
            return dict(json.loads(data)) if data else {}
        except ValueError:
            return {}

    async def text(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """`fn(*args, **kwargs)` on the API pool; the raw response body (pod logs are plain text)."""
        kwargs.setdefault("_request_timeout", self.settings.request_timeout_s)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(_call, fn, args, kwargs))

    def close(self) -> None:
        """Release the threads and connections."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    try:
        response = fn(*args, _preload_content=False, **kwargs)
    except ApiException as err:
        raise _api_error(err) from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise ApiError(0, "Unreachable", f"cannot reach the Kubernetes API: {err}") from None
    except ValidationError as err:  # the client checks bodies against the API's schema before sending
        raise ApiError(422, "Invalid", f"invalid object: {err}") from None
    data = response.data
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data or "")


def _api_error(err: ApiException) -> ApiError:
    message = err.reason or "API error"
    try:
        body = json.loads(err.body) if err.body else {}
        message = body.get("message") or message
    except (ValueError, AttributeError):
        pass
    return ApiError(int(err.status or 0), str(err.reason or ""), message)
