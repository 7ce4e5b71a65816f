"""boto3 clients of ECS, Secrets Manager and Cloud Map behind one async call with readable errors.

boto3 is synchronous: calls run on a bounded thread pool of their own, so a slow or throttled API never
starves the event loop. Every call is counted by its IAM action (`ecs:RunTask`, ...): the benchmarks read
the counts, and the IAM example policy is checked against them (tests/deploy/test_ecs_policy.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from activities.launchers.ecs.settings import EcsLauncherSettings

Body = dict[str, Any]
USER_AGENT = "longshoreman-agent"  # how the agent's calls show in CloudTrail
# Error codes a retry of the same call cannot fix: the request, the cluster or the agent's permissions are wrong.
FINAL_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "ClientException",
        "ClusterNotFoundException",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidRequestException",
        "ValidationException",
        "UnauthorizedOperation",
        "PlatformUnknownException",
        "PlatformTaskDefinitionIncompatibilityException",
    }
)
SERVICES = {"ecs": "ecs", "secretsmanager": "secretsmanager", "servicediscovery": "servicediscovery"}


class AwsError(Exception):
    """A failed call: `code` is AWS's error code ('' when the endpoint could not be reached)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})" if code else message)
        self.code = code

    @property
    def final(self) -> bool:
        """Whether a retry of the same call is pointless."""
        return self.code in FINAL_CODES


class EcsApi:
    """The clients the launcher uses and an async `call` for each request; counts calls by IAM action."""

    def __init__(self, settings: EcsLauncherSettings) -> None:
        self.settings = settings
        config = Config(
            user_agent_extra=USER_AGENT,
            read_timeout=settings.api_timeout_s,
            connect_timeout=min(10.0, settings.api_timeout_s),
            retries={"max_attempts": settings.max_retries + 1, "mode": "standard"},
            max_pool_connections=settings.api_concurrency,
        )
        session = boto3.session.Session(region_name=settings.region)
        self._clients = {
            service: session.client(service, endpoint_url=settings.endpoint_url, config=config) for service in SERVICES
        }
        self._pool = ThreadPoolExecutor(settings.api_concurrency, thread_name_prefix="ecs-api")
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        """Calls made, by IAM action (`ecs:DescribeTasks`): what the benchmarks count and the policy grants."""

    async def call(self, service: str, operation: str, /, **params: Any) -> Body:
        """`operation` of `service` (snake_case, e.g. ('ecs', 'run_task')) on the API pool. Raises AwsError."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(self._call, service, operation, params))

    def action(self, service: str, operation: str) -> str:
        """The IAM action of one call, e.g. ('ecs', 'run_task') → 'ecs:RunTask'."""
        model = self._clients[service].meta.method_to_api_mapping[operation]
        return f"{SERVICES[service]}:{model}"

    def close(self) -> None:
        """Release the threads and connections."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for api in self._clients.values():
            api.close()

    def _call(self, service: str, operation: str, params: Body) -> Body:
        with self._lock:
            self.calls[self.action(service, operation)] += 1
        try:
            response = getattr(self._clients[service], operation)(**params)
        except ClientError as err:
            error = err.response.get("Error", {})
            raise AwsError(str(error.get("Code", "")), str(error.get("Message", "") or err)) from None
        except BotoCoreError as err:
            raise AwsError("", f"cannot reach {service}: {err}") from None
        response.pop("ResponseMetadata", None)
        return dict(response)
