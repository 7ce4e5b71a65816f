"""Cloud Map names of code servers (server_access 'cloud-map'): one Cloud Map service per ECS service.

ECS registers the server's task in it (an A record) and deregisters it when the task stops, so the agent
reaches `http://<service>.<namespace>:<port>` whichever task serves.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from activities.launchers.base import LaunchError
from activities.launchers.ecs.api import AwsError, EcsApi

Body = dict[str, Any]


class CloudMap:
    """Creates and deletes the Cloud Map services of one agent's code servers in one namespace."""

    def __init__(self, api: EcsApi, agent: str, namespace_id: str) -> None:
        self._api = api
        self._agent = agent
        self._namespace_id = namespace_id

    async def service(self, name: str) -> str:
        """The ARN of the Cloud Map service for ECS service `name` (created, or adopted)."""
        params: Body = {
            "Name": name,
            "NamespaceId": self._namespace_id,
            "DnsConfig": {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
            "HealthCheckCustomConfig": {"FailureThreshold": 1},
            "CreatorRequestId": hashlib.sha256(f"{self._agent}/{name}".encode()).hexdigest()[:64],
        }
        try:
            created = await self._api.call("servicediscovery", "create_service", **params)
            return str(created["Service"]["Arn"])
        except AwsError as err:
            if err.code != "ServiceAlreadyExists":
                raise LaunchError(f"cannot create Cloud Map service {name}: {err}", final=err.final) from None
        found = await self._find(name)
        if found is None:
            raise LaunchError(f"Cloud Map service {name} vanished while being adopted", final=False)
        return str(found["Arn"])

    async def delete(self, name: str) -> None:
        """Delete the Cloud Map service of ECS service `name`; one with instances left stays for the next stop."""
        found = await self._find(name)
        if found is not None:
            with contextlib.suppress(AwsError):
                await self._api.call("servicediscovery", "delete_service", Id=found["Id"])

    async def _find(self, name: str) -> Body | None:
        filters = [{"Name": "NAMESPACE_ID", "Values": [self._namespace_id], "Condition": "EQ"}]
        listed = await self._api.call("servicediscovery", "list_services", Filters=filters)
        return next((dict(s) for s in listed.get("Services") or [] if s.get("Name") == name), None)
