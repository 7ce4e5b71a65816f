"""One poller per ecs launcher: what ECS says about every task and service of the agent, in one cache.

Supervision never calls ECS per run: every `poll_interval_s` the poller describes all of the agent's live
tasks together, 100 per DescribeTasks call, and its services 10 per DescribeServices call; every
`resync_interval_s` (and once at start) it lists the agent's task-definition families (ListTasks, 100 per
page) to find tasks it does not know yet: a restarted agent's runs, another replica's launches, orphans.
State questions read the cache; `on_change(name)` wakes whoever waits on a server or worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from activities.launchers.ecs import definitions
from activities.launchers.ecs.api import AwsError, EcsApi
from activities.launchers.ecs.settings import EcsLauncherSettings

log = logging.getLogger("longshoreman.ecs")
Body = dict[str, Any]
TASK_BATCH = 100  # DescribeTasks takes at most 100 tasks
SERVICE_BATCH = 10  # DescribeServices takes at most 10 services
MAX_STOPPED = 10_000  # stopped tasks remembered (their exit status) after ECS has been told to forget them


class TaskCache:
    """The agent's tasks and services as ECS last described them."""

    def __init__(self) -> None:
        self.tasks: OrderedDict[str, Body] = OrderedDict()  # task ARN -> task
        self.workers: dict[str, str] = {}  # worker name -> task ARN
        self.services: dict[str, Body] = {}  # service name -> service (None-valued: gone)
        self.gone_services: set[str] = set()
        self.missing_since: dict[str, float] = {}
        self.synced = False

    def worker(self, name: str) -> Body | None:
        """The task of one run attempt."""
        arn = self.workers.get(name)
        return self.tasks.get(arn) if arn else None

    def service_tasks(self, service: str) -> list[Body]:
        """The tasks of one service, oldest first."""
        group = f"service:{service}"
        return [task for task in self.tasks.values() if task.get("group") == group]

    def live_arns(self) -> list[str]:
        """Tasks not yet seen STOPPED: the ones worth describing."""
        return [arn for arn, task in self.tasks.items() if task.get("lastStatus") != "STOPPED"]

    def put(self, task: Body) -> str | None:
        """Record a described task; the worker or service name it belongs to, if any."""
        arn = str(task["taskArn"])
        if not task.get("createdAt"):
            # ECS always says; an answer without it (an emulator) dates the task from when it was first seen.
            task["createdAt"] = (self.tasks.get(arn) or {}).get("createdAt") or datetime.now(UTC)
        self.tasks[arn] = task
        self.tasks.move_to_end(arn)
        self.missing_since.pop(arn, None)
        tags = definitions.tag_map(task.get("tags"))
        group = str(task.get("group") or "")
        if tags.get(definitions.KIND) == "worker" and tags.get(definitions.NAME):
            self.workers[tags[definitions.NAME]] = arn
            return tags[definitions.NAME]
        if group.startswith("service:"):
            return group.removeprefix("service:")
        return None

    def forget_stopped(self) -> None:
        """Drop the oldest stopped tasks beyond MAX_STOPPED."""
        stopped = [arn for arn, task in self.tasks.items() if task.get("lastStatus") == "STOPPED"]
        for arn in stopped[: max(0, len(stopped) - MAX_STOPPED)]:
            self.drop(arn)

    def drop(self, arn: str) -> str | None:
        """Forget a task ECS no longer describes; the worker or service name it belonged to."""
        task = self.tasks.pop(arn, None)
        self.missing_since.pop(arn, None)
        if task is None:
            return None
        name = definitions.tag_map(task.get("tags")).get(definitions.NAME)
        if name and self.workers.get(name) == arn:
            del self.workers[name]
            return name
        group = str(task.get("group") or "")
        return group.removeprefix("service:") if group.startswith("service:") else None


class Poller:
    """Keeps the cache current with batched describe calls; runs on the agent's event loop."""

    def __init__(
        self, api: EcsApi, settings: EcsLauncherSettings, cache: TaskCache, on_change: Callable[[str], None]
    ) -> None:
        self._api = api
        self._settings = settings
        self._cache = cache
        self._on_change = on_change
        self._clusters: set[str] = {settings.cluster}
        self._awaited_services: set[str] = set()  # services waiting for their first task: list them each poll
        self._services: dict[str, str] = {}  # tracked service name -> cluster
        self.last_error = ""
        self._next_resync = 0.0
        self._cycle = asyncio.Event()

    def cluster_of(self, cluster: str) -> None:
        """Also watch `cluster` (a location may choose its own)."""
        self._clusters.add(cluster)

    def track_service(self, name: str, cluster: str, service: Body | None = None) -> None:
        """Describe this service every poll (and its first task, once it has one)."""
        self._services[name] = cluster
        self._clusters.add(cluster)
        self._cache.gone_services.discard(name)
        if service is not None:
            self._cache.services[name] = service
        if not self._cache.service_tasks(name):
            self._awaited_services.add(name)

    def untrack_service(self, name: str) -> None:
        """Stop describing a deleted service."""
        self._services.pop(name, None)
        self._awaited_services.discard(name)

    async def run_forever(self) -> None:
        """Poll until canceled; errors are logged and the next poll tries again."""
        while True:
            try:
                if time.monotonic() >= self._next_resync:
                    await self.resync()
                    self._next_resync = time.monotonic() + self._settings.resync_interval_s
                    self._cache.synced = True
                await self.poll()
                self.last_error = ""
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.last_error = str(err)
                log.warning("polling ECS failed: %s", err)
            self._cycle.set()
            self._cycle = asyncio.Event()
            await asyncio.sleep(self._settings.poll_interval_s)

    async def next_cycle(self, timeout_s: float) -> None:
        """Wait for the end of the current poll (tests and stops that want fresh news)."""
        await asyncio.wait_for(self._cycle.wait(), timeout_s)

    async def poll(self) -> None:
        """Describe every live task and tracked service; wake the waiters of whatever changed."""
        if self._awaited_services:
            # A new server's task may fail to start between two polls: the stopped ones count too.
            family = definitions.family(str(self._settings.agent_name), "server")
            await self._discover(family, ("RUNNING", "STOPPED"))
        by_cluster: dict[str, list[str]] = {}
        for arn in self._cache.live_arns():
            by_cluster.setdefault(str(self._cache.tasks[arn].get("clusterArn") or self._settings.cluster), []).append(
                arn
            )
        for cluster, arns in by_cluster.items():
            await self.describe_tasks(cluster, arns)
        await self._describe_services()
        self._cache.forget_stopped()

    async def resync(self) -> None:
        """List the agent's families for tasks not in the cache yet, then describe those."""
        agent = str(self._settings.agent_name)
        for kind in ("worker", "server"):
            await self._discover(definitions.family(agent, kind))

    async def describe_tasks(self, cluster: str, arns: list[str]) -> None:
        """Describe `arns` in batches of 100; a task ECS does not return is missing, then dropped."""
        now = time.monotonic()
        for start in range(0, len(arns), TASK_BATCH):
            batch = arns[start : start + TASK_BATCH]
            answer = await self._api.call("ecs", "describe_tasks", cluster=cluster, tasks=batch, include=["TAGS"])
            seen = set()
            for task in answer.get("tasks") or []:
                seen.add(str(task["taskArn"]))
                self._record(task)
            for arn in batch:
                if arn in seen:
                    continue
                first = self._cache.missing_since.setdefault(arn, now)
                if now - first >= self._settings.missing_grace_s:
                    name = self._cache.drop(arn)
                    if name:
                        self._on_change(name)

    async def _discover(self, family: str, statuses: tuple[str, ...] = ("RUNNING",)) -> None:
        for cluster in sorted(self._clusters):
            unknown: list[str] = []
            for status in statuses:
                unknown += await self._list(cluster, family, status)
            if unknown:
                await self.describe_tasks(cluster, list(dict.fromkeys(unknown)))

    async def _list(self, cluster: str, family: str, status: str) -> list[str]:
        """ARNs of the family's tasks with this desired status that the cache does not know, 100 per page."""
        unknown: list[str] = []
        token: str | None = None
        while True:
            params: Body = {"cluster": cluster, "family": family, "desiredStatus": status, "maxResults": 100}
            if token:
                params["nextToken"] = token
            try:
                page = await self._api.call("ecs", "list_tasks", **params)
            except AwsError as err:
                if err.code == "ClusterNotFoundException":
                    return unknown
                raise
            unknown += [arn for arn in page.get("taskArns") or [] if arn not in self._cache.tasks]
            token = page.get("nextToken")
            if not token:
                return unknown

    async def _describe_services(self) -> None:
        by_cluster: dict[str, list[str]] = {}
        for name, cluster in self._services.items():
            by_cluster.setdefault(cluster, []).append(name)
        for cluster, names in by_cluster.items():
            for start in range(0, len(names), SERVICE_BATCH):
                batch = names[start : start + SERVICE_BATCH]
                answer = await self._api.call("ecs", "describe_services", cluster=cluster, services=batch)
                found = {str(s["serviceName"]): s for s in answer.get("services") or []}
                for name in batch:
                    service = found.get(name)
                    before = self._cache.services.get(name)
                    if service is None or service.get("status") == "INACTIVE":
                        self._cache.services.pop(name, None)
                        self._cache.gone_services.add(name)
                    else:
                        self._cache.services[name] = service
                    if _changed(before, service, ("status", "runningCount", "desiredCount")):
                        self._on_change(name)

    def _record(self, task: Body) -> None:
        arn = str(task["taskArn"])
        before = self._cache.tasks.get(arn)
        name = self._cache.put(task)
        if name is None:
            return
        self._awaited_services.discard(name)
        if _changed(before, task, ("lastStatus", "desiredStatus", "stopCode")) or before is None:
            self._on_change(name)


def _changed(before: Body | None, after: Body | None, keys: tuple[str, ...]) -> bool:
    if before is None or after is None:
        return before is not after
    return any(before.get(key) != after.get(key) for key in keys)
