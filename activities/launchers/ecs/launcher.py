"""ECS launcher: an ECS service per code-server instance, one task per run attempt, through boto3.

- Idempotent by name: a code server is the service `<agent>-<location>-g<generation>-i<instance>`, a run
  attempt the task `startedBy` `run-<run id>-a<attempt>` with its secret `longshoreman/<agent>/<worker>`; a
  retried launch (after an agent restart, on another replica) finds them and adopts what exists, so an
  attempt never runs twice. A stop tags the attempt's secret first: a launch arriving later is refused.
- The run token and the location's secret_env live in that secret (Secrets Manager), referenced from the
  attempt's task-definition revision (`secrets[].valueFrom`): ECS reads it with the execution role when the
  task starts; describe-task-definition and describe-tasks show only its ARN.
- State calls read the poller's cache (watcher.py): supervising any number of runs costs one DescribeTasks
  per 100 live tasks per poll, not a call per run. Stop codes, stop reasons and exit codes make the reason.
- Blue/green comes from the workflow: a redeploy is a new service; the old one is scaled to 0 and deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.launchers.base import LaunchError, Phase, ProcessView, TokenSource
from activities.launchers.ecs import definitions, inventory, reasons
from activities.launchers.ecs.api import AwsError, EcsApi
from activities.launchers.ecs.cloud_map import CloudMap
from activities.launchers.ecs.secrets import Secrets
from activities.launchers.ecs.settings import EcsLauncherSettings
from activities.launchers.ecs.watcher import Poller, TaskCache
from activities.launchers.orphans import Managed
from activities.launchers.wakeups import Wakeups
from contracts.agent import LaunchRunInput, StopResult
from contracts.handles import (
    CodeServerHandle,
    RunWorkerHandle,
    code_server_name,
    run_worker_name,
)
from contracts.locations import LauncherKind, LocationSpec

log = logging.getLogger("longshoreman.ecs")
Body = dict[str, Any]
STOP_EXTRA_S = 15.0  # after ECS's stopTimeout, how long a stop waits to see the task STOPPED
SYNC_POLL_S = 0.05
SWEEP_S = 3600.0
UNREACHABLE = "http://127.0.0.1:0"  # a server whose task ended before it had an address (never probed)
ENDED = frozenset({Phase.EXITED, Phase.LOST})
MAX_REMEMBERED = 10_000


class EcsLauncher:
    """Launcher on Amazon ECS (Fargate, EC2 or external capacity)."""

    kind: LauncherKind = "ecs"

    def __init__(self, settings: EcsLauncherSettings, api: EcsApi | None = None) -> None:
        if not settings.agent_name or not settings.control_plane_url:
            raise ValueError("EcsLauncherSettings must be resolved (agent name, control-plane URL)")
        self.settings = settings
        self.agent = settings.agent_name
        self.api = api or EcsApi(settings)
        self._wakeups = Wakeups()
        self.cache = TaskCache()
        self.poller = Poller(self.api, settings, self.cache, self._changed)
        self.secrets = Secrets(self.api, self.agent)
        self._cloud_map = (
            CloudMap(self.api, self.agent, settings.cloud_map_namespace_id)
            if settings.server_access == "cloud-map" and settings.cloud_map_namespace_id
            else None
        )
        self._stopping = Recent()  # workers this agent stopped: their secret stays as the stop marker
        self._cleaned = Recent()  # workers whose task definition and secret were released
        self._tasks: set[asyncio.Task[Any]] = set()
        self._polling: asyncio.Task[None] | None = None

    # ---- code servers ---------------------------------------------------------------------

    async def launch_server(self, spec: LocationSpec, generation: int, instance: int) -> CodeServerHandle:
        """Create the instance's service (one task), or adopt it; return once its task has an address."""
        await self._synced()
        _require_image(spec)
        name = code_server_name(spec.name, generation, instance)
        service_name = definitions.service_name(self.agent, name)
        cluster = definitions.cluster(spec.ecs, self.settings)
        service = await self._describe_service(cluster, service_name)
        if service is None:
            service = await self._create_service(spec, generation, instance, name, service_name, cluster)
        self.poller.track_service(service_name, cluster, service)
        ref: dict[str, str | int] = {"service": service_name, "cluster": cluster, "task": ""}
        if self.settings.server_access == "cloud-map":
            url = f"http://{service_name}.{self.settings.cloud_map_namespace}:{spec.port}"
        else:
            task = await self._first_task(service_name, spec.startup_timeout_s)
            ref["task"] = str(task["taskArn"])
            ip = reasons.private_ip(task)
            url = f"http://{ip}:{spec.port}" if ip else UNREACHABLE
        return CodeServerHandle.of(
            self.kind,
            spec.name,
            generation,
            instance,
            url=url,
            ref=ref,
            launched_at=definitions.created_at(service.get("createdAt")),
        )

    async def server_state(self, handle: CodeServerHandle) -> ProcessView:
        """RUNNING while its task runs; EXITED/LOST once that task has stopped or the service is gone."""
        await self._synced()
        service_name, cluster = _server_ref(handle, self.agent)
        if service_name in self.cache.gone_services:
            return ProcessView(phase=Phase.LOST, message=f"service {service_name} no longer exists")
        if service_name not in self.cache.services:
            self.poller.track_service(service_name, cluster)  # a restarted agent's server: described from now on
        task = self.cache.tasks.get(str(handle.ref.get("task") or ""))
        if task is None:
            tasks = self.cache.service_tasks(service_name)
            task = tasks[-1] if tasks else None
        if task is None:
            return ProcessView(phase=Phase.PENDING)
        return reasons.task_view(task, definitions.SERVER_CONTAINER)

    async def wait_server_end(self, handle: CodeServerHandle, timeout_s: float) -> ProcessView:
        """The server's view once it has ended (woken by the poller), or its current view after `timeout_s`."""
        self._start()
        service_name = _server_ref(handle, self.agent)[0]
        return await self._wakeups.until_view(service_name, lambda: self.server_state(handle), ENDED, timeout_s)

    async def stop_server(self, handle: CodeServerHandle, grace_s: float) -> StopResult:
        """Scale the service to 0 (its task gets SIGTERM, then SIGKILL after stopTimeout), then delete it."""
        service_name, cluster = _server_ref(handle, self.agent)
        return await self._delete_service(cluster, service_name, grace_s)

    # ---- run workers ----------------------------------------------------------------------

    async def launch_worker(self, request: LaunchRunInput, token: TokenSource) -> RunWorkerHandle:
        """Start the attempt's task, or adopt the one that exists (running or stopped): never a second one."""
        await self._synced()
        _require_image(request.location)
        name = run_worker_name(request.run_id, request.attempt)
        cluster = definitions.cluster(request.location.ecs, self.settings)
        self.poller.cluster_of(cluster)
        task = self.cache.worker(name)
        if task is None:
            tags = definitions.worker_tags(request, name, self.agent)
            secret_arn, existed = await self.secrets.create_run_secret(name, request.location.secret_env, tags, token)
            task = await self._find_task(cluster, name) if existed else None
            if task is None:
                task = await self._run_task(request, name, cluster, tags, secret_arn)
        self.cache.put(task)
        return RunWorkerHandle.of(
            self.kind,
            request.run_id,
            request.attempt,
            ref={"task": str(task["taskArn"]), "cluster": cluster},
            launched_at=definitions.created_at(task.get("createdAt")),
        )

    async def worker_state(self, handle: RunWorkerHandle) -> ProcessView:
        """The task: PENDING while ECS places and starts it, RUNNING, then EXITED (exit code) or LOST (why)."""
        await self._synced()
        arn = str(handle.ref.get("task") or "")
        task = self.cache.tasks.get(arn) or self.cache.worker(handle.name)
        if task is None and arn:
            # A task this agent has not seen (it ended while the agent was down, or another replica launched it):
            # asked once; the poller keeps it current from then on.
            await self.poller.describe_tasks(str(handle.ref.get("cluster") or self.settings.cluster), [arn])
            task = self.cache.tasks.get(arn)
        return reasons.task_view(task, definitions.WORKER_CONTAINER, stop_requested=handle.name in self._stopping)

    async def wait_worker(self, handle: RunWorkerHandle, phases: frozenset[Phase], timeout_s: float) -> ProcessView:
        """The worker's view once its phase is in `phases` (woken by the poller), or after `timeout_s`."""
        self._start()
        return await self._wakeups.until_view(handle.name, lambda: self.worker_state(handle), phases, timeout_s)

    async def stop_worker(self, run_id: str, attempt: int, grace_s: float) -> StopResult:
        """Refuse later launches of the attempt, then stop its task (SIGTERM, stopTimeout, SIGKILL)."""
        self._start()
        name = run_worker_name(run_id, attempt)
        self._stopping.add(name)
        await self.secrets.mark_stopped(name, run_id, attempt)
        task = self.cache.worker(name) or await self._find_task(self.settings.cluster, name)
        if task is None:
            return StopResult(stopped=False, detail="no task: never started (a later launch is refused)")
        if task.get("lastStatus") == "STOPPED":
            return _stop_result(task, "already stopped")
        cluster = str(task.get("clusterArn") or self.settings.cluster)
        reason = f"{reasons.AGENT_STOP_REASON} {self.agent}"
        try:
            task = (await self.api.call("ecs", "stop_task", cluster=cluster, task=task["taskArn"], reason=reason))[
                "task"
            ]
            self.cache.put(task)
        except AwsError as err:
            if err.code != "InvalidParameterException":  # already stopped and forgotten by ECS
                raise
        arn = str(task["taskArn"])
        stopped = await self._wakeups.until(
            name,
            lambda: (self.cache.tasks.get(arn) or {}).get("lastStatus") == "STOPPED",
            self.settings.stop_timeout_s + STOP_EXTRA_S,
        )
        final = self.cache.tasks.get(arn) or task
        self._changed(name)  # a stopped attempt's task definition is released (its secret stays: the marker)
        if not stopped:
            return StopResult(stopped=True, detail="StopTask sent; the task is still stopping")
        return _stop_result(final, "stopped the task")

    async def log_tail(self, name: str, max_bytes: int = 4000) -> str:
        """Nothing: a task's output is in CloudWatch Logs (LOG_GROUP) or the compute-log store, not read here."""
        return ""

    # ---- orphans (activities/launchers/orphans.py) -----------------------------------------

    async def managed(self) -> list[Managed]:
        """Every code-server service and unfinished run task of this agent in the cache."""
        self._start()
        return inventory.managed(self.cache, self.agent) if self.cache.synced else []

    async def stop_orphan(self, item: Managed, grace_s: float) -> None:
        """Stop an orphan's task (marked stopped: never relaunched) or delete its service."""
        if item.kind == "worker":
            await self.stop_worker(item.run_id, item.attempt, grace_s)
            return
        service_name = definitions.service_name(self.agent, item.name)
        service = self.cache.services.get(service_name) or {}
        cluster = str(service.get("clusterArn") or self.settings.cluster)
        await self._delete_service(cluster, service_name, grace_s)

    # ---- housekeeping -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop polling and background work; release the clients. Tasks and services keep running."""
        for task in [*self._tasks, *([self._polling] if self._polling else [])]:
            task.cancel()
        for task in [*self._tasks, *([self._polling] if self._polling else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._polling = None
        self.api.close()

    # ---- machinery ----------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the poller on first use (it wakes waiters on the running loop)."""
        if self._polling is None:
            self._wakeups.bind(asyncio.get_running_loop())
            self._polling = asyncio.ensure_future(self.poller.run_forever())
            self._spawn(self._sweep_forever())

    async def _synced(self) -> None:
        """Start the poller if need be and wait for its first listing (`sync_timeout_s`): until then the cache
        cannot tell a missing task from one not listed yet. A retryable error after that long."""
        self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.sync_timeout_s
        while not self.cache.synced:
            if loop.time() >= deadline:
                raise ApplicationError(
                    f"ECS has not answered the launcher's listing within {self.settings.sync_timeout_s:g} s "
                    f"({self.poller.last_error or 'no answer yet'}); retrying",
                    type="EcsUnavailable",
                )
            await asyncio.sleep(SYNC_POLL_S)

    def _changed(self, name: str) -> None:
        """The poller saw news about `name`: wake its waiters; release a finished attempt's resources."""
        self._wakeups.notify(name)
        task = self.cache.worker(name)
        if task is not None and task.get("lastStatus") == "STOPPED" and name not in self._cleaned:
            self._cleaned.add(name)
            self._spawn(self._release_worker(name, task))

    async def _create_service(
        self, spec: LocationSpec, generation: int, instance: int, name: str, service_name: str, cluster: str
    ) -> Body:
        tags = definitions.server_tags(spec, generation, instance, name, self.agent)
        secret_arn = None
        if spec.secret_env:
            secret_arn = await self.secrets.put(name, spec.secret_env, tags)
        body = definitions.server_task_definition(spec, name, tags, secret_arn, self.settings)
        arn = await self._register(body)
        params: Body = {
            "cluster": cluster,
            "serviceName": service_name,
            "taskDefinition": arn,
            "desiredCount": 1,
            "networkConfiguration": definitions.network(spec.ecs, self.settings),
            "tags": definitions.tags(tags),
            "propagateTags": "SERVICE",
            "enableECSManagedTags": True,
            # A code server is one task: a replacement starts only once the old one is gone.
            "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0},
            **definitions.placement(spec.ecs, self.settings),
        }
        if self._cloud_map is not None:
            params["serviceRegistries"] = [{"registryArn": await self._cloud_map.service(service_name)}]
        try:
            return dict((await self.api.call("ecs", "create_service", **params))["service"])
        except AwsError as err:
            raise LaunchError(f"cannot create service {service_name}: {err}", final=err.final) from None

    async def _first_task(self, service_name: str, timeout_s: float) -> Body:
        """The service's first task once it has an address (or has stopped without one)."""

        def placed() -> bool:
            return any(
                reasons.private_ip(t) or t.get("lastStatus") == "STOPPED"
                for t in self.cache.service_tasks(service_name)
            )

        if not await self._wakeups.until(service_name, placed, timeout_s):
            events = (self.cache.services.get(service_name) or {}).get("events") or []
            latest = f": {events[0].get('message')}" if events else ""
            raise LaunchError(
                f"service {service_name} has no task with an address after {timeout_s:g} s{latest}", final=False
            )
        tasks = self.cache.service_tasks(service_name)
        return next((t for t in reversed(tasks) if reasons.private_ip(t)), tasks[-1])

    async def _delete_service(self, cluster: str, service_name: str, grace_s: float) -> StopResult:
        self._start()
        gone = await self._describe_service(cluster, service_name) is None
        if not gone:
            try:
                await self.api.call("ecs", "update_service", cluster=cluster, service=service_name, desiredCount=0)
            except AwsError as err:
                if err.code not in ("ServiceNotFoundException", "ServiceNotActiveException"):
                    raise
                gone = True
        if gone:
            self.poller.untrack_service(service_name)
            self.cache.gone_services.add(service_name)
            return StopResult(stopped=True, detail="already gone")
        arns = [str(t["taskArn"]) for t in self.cache.service_tasks(service_name) if t.get("lastStatus") != "STOPPED"]
        drained = await self._wakeups.until(
            service_name,
            lambda: all((self.cache.tasks.get(a) or {}).get("lastStatus") in ("STOPPED", None) for a in arns),
            max(grace_s, self.settings.stop_timeout_s) + STOP_EXTRA_S,
        )
        answer = await self.api.call("ecs", "delete_service", cluster=cluster, service=service_name, force=True)
        self.poller.untrack_service(service_name)
        self.cache.services.pop(service_name, None)
        self.cache.gone_services.add(service_name)
        definition = (answer.get("service") or {}).get("taskDefinition")
        if definition:
            await self._deregister(str(definition))
        await self.secrets.delete(service_name.removeprefix(f"{self.agent}-"))
        if self._cloud_map is not None:
            self._spawn(self._cloud_map.delete(service_name))
        detail = "scaled to 0 and deleted the service" + ("" if drained else "; its task was still stopping")
        return StopResult(stopped=True, detail=detail)

    async def _describe_service(self, cluster: str, service_name: str) -> Body | None:
        try:
            answer = await self.api.call("ecs", "describe_services", cluster=cluster, services=[service_name])
        except AwsError as err:
            raise LaunchError(f"cannot describe service {service_name}: {err}", final=err.final) from None
        for service in answer.get("services") or []:
            if service.get("status") == "ACTIVE":
                return dict(service)
        return None

    async def _run_task(
        self, request: LaunchRunInput, name: str, cluster: str, tags: dict[str, str], secret_arn: str
    ) -> Body:
        url = str(self.settings.control_plane_url)
        body = definitions.worker_task_definition(request, tags, secret_arn, url, self.settings)
        definition = await self._register(body)
        params: Body = {
            "cluster": cluster,
            "taskDefinition": definition,
            "count": 1,
            "startedBy": definitions.started_by(name),
            "tags": definitions.tags(tags),
            "enableECSManagedTags": True,
            "networkConfiguration": definitions.network(request.location.ecs, self.settings),
            # ECS's own idempotency: a RunTask retried with this token returns the same task.
            "clientToken": hashlib.sha256(f"{self.agent}/{name}".encode()).hexdigest()[:64],
            **definitions.placement(request.location.ecs, self.settings),
        }
        try:
            answer = await self.api.call("ecs", "run_task", **params)
        except AwsError as err:
            raise LaunchError(f"cannot run task {name}: {err}", final=err.final) from None
        tasks = answer.get("tasks") or []
        if not tasks:
            failures = "; ".join(
                f"{f.get('reason')} {f.get('detail') or ''}".strip() for f in answer.get("failures") or []
            )
            # No capacity, an agent disconnected: another try may find room.
            raise LaunchError(f"ECS did not start task {name}: {failures or 'no reason given'}", final=False)
        task = dict(tasks[0])
        self.cache.put(task)
        if await self.secrets.stop_requested(name):
            # A stop ran while we launched and may have looked too early: stop the task ourselves.
            self._stopping.add(name)
            with contextlib.suppress(AwsError):
                await self.api.call(
                    "ecs", "stop_task", cluster=cluster, task=task["taskArn"], reason="stopped while starting"
                )
            raise LaunchError(f"run worker {name} was stopped while starting: not launching it")
        return task

    async def _find_task(self, cluster: str, name: str) -> Body | None:
        """The attempt's task, asked of ECS (running first, then stopped ones, which ECS shows for a while)."""
        for status in ("RUNNING", "STOPPED"):
            listed = await self.api.call(
                "ecs", "list_tasks", cluster=cluster, startedBy=definitions.started_by(name), desiredStatus=status
            )
            arns = listed.get("taskArns") or []
            if arns:
                answer = await self.api.call("ecs", "describe_tasks", cluster=cluster, tasks=arns[:1], include=["TAGS"])
                tasks = answer.get("tasks") or []
                if tasks:
                    self.cache.put(tasks[0])
                    return dict(tasks[0])
        return None

    async def _register(self, body: Body) -> str:
        try:
            answer = await self.api.call("ecs", "register_task_definition", **body)
        except AwsError as err:
            raise LaunchError(f"cannot register task definition {body['family']}: {err}", final=err.final) from None
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    async def _release_worker(self, name: str, task: Body) -> None:
        """A stopped attempt's task-definition revision and secret go (a stop marker stays for its TTL)."""
        try:
            await self._deregister(str(task.get("taskDefinitionArn") or ""))
            if name not in self._stopping:
                await self.secrets.delete(name)
        except Exception as err:  # housekeeping: the next agent's sweep or an operator can finish it
            log.warning("cannot release the resources of %s: %s", name, err)

    async def _deregister(self, definition: str) -> None:
        if definition:
            with contextlib.suppress(AwsError):  # already inactive
                await self.api.call("ecs", "deregister_task_definition", taskDefinition=definition)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.secrets.sweep_stop_markers(self.settings.tombstone_ttl_s)
            except Exception as err:  # housekeeping must never take the launcher down
                log.warning("sweeping stop markers failed: %s", err)


class Recent:
    """A set of the last MAX_REMEMBERED names (one per run: never unbounded)."""

    def __init__(self) -> None:
        self._names: OrderedDict[str, None] = OrderedDict()

    def add(self, name: str) -> None:
        self._names[name] = None
        self._names.move_to_end(name)
        while len(self._names) > MAX_REMEMBERED:
            self._names.popitem(last=False)

    def __contains__(self, name: object) -> bool:
        return name in self._names


def _require_image(spec: LocationSpec) -> None:
    if not spec.image:
        raise LaunchError(f"location '{spec.name}' has no image: the ecs launcher runs tasks from an image")


def _server_ref(handle: CodeServerHandle, agent: str) -> tuple[str, str]:
    service = str(handle.ref.get("service") or definitions.service_name(agent, handle.name))
    return service, str(handle.ref.get("cluster") or "default")


def _stop_result(task: Body, detail: str) -> StopResult:
    view = reasons.task_view(task, definitions.WORKER_CONTAINER, stop_requested=True)
    if view.phase is Phase.EXITED:
        return StopResult(stopped=True, detail=detail, exit_code=view.exit_code, signal=view.signal)
    return StopResult(stopped=True, detail=f"{detail}: {view.message}" if view.message else detail)
