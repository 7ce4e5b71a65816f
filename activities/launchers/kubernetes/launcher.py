"""Kubernetes launcher: a Deployment + Service per code-server instance, one Job per run attempt.

Everything is found again by name (code_server_name / run_worker_name) and labels, so a retried activity or a
restarted agent adopts what exists: a create that answers 409 Conflict means "already there, adopt it",
and a run attempt whose Job exists (running or finished) is never created twice. State calls read the
watch cache (watcher.py) and never call the API. The run token travels in a per-run Secret that the pod
reads through `env.valueFrom.secretKeyRef`: it never appears in the Job, a label, an annotation or a log,
and the Job owns the Secret, so both go together (TTL after finishing, or cancel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.launchers.base import LaunchError, Phase, ProcessView, TokenSource
from activities.launchers.kubernetes import inventory, manifests, reasons
from activities.launchers.kubernetes.api import MERGE_PATCH, ApiError, KubeApi
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings
from activities.launchers.kubernetes.watcher import WatchCache, WatchedKind, Watcher
from activities.launchers.orphans import Managed
from activities.launchers.wakeups import Wakeups
from contracts.agent import LaunchRunInput, StopResult
from contracts.handles import CodeServerHandle, RunWorkerHandle, code_server_name, run_worker_name
from contracts.locations import LauncherKind, LocationSpec

log = logging.getLogger("longshoreman.kubernetes")
Body = dict[str, Any]
STOP_EXTRA_S = 10.0  # after the grace period, how long a stop waits for the pods to be gone
SWEEP_S = 3600.0
MAX_VERDICTS = 10_000
SYNC_POLL_S = 0.05
LOG_LINES = 200
ENDED = frozenset({Phase.EXITED, Phase.LOST})


class KubernetesLauncher:
    """Launcher on a Kubernetes cluster, through the official client."""

    kind: LauncherKind = "kubernetes"

    def __init__(self, settings: KubernetesLauncherSettings, control_plane_url: str, api: KubeApi | None = None):
        self.settings = settings
        self._control_plane_url = settings.control_plane_url or control_plane_url
        self._api = api or KubeApi(settings)
        self._wakeups = Wakeups()
        self._cache = WatchCache(settings.agent_name, on_change=self._wakeups.notify)
        self._watcher: Watcher | None = None
        self._verdicts: OrderedDict[str, ProcessView] = OrderedDict()  # fail-fast verdicts of removed Jobs
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- code servers ---------------------------------------------------------------------

    async def launch_server(self, spec: LocationSpec, generation: int, instance: int) -> CodeServerHandle:
        """Create the instance's Deployment and Service, or adopt them."""
        api = await self._synced()
        name = code_server_name(spec.name, generation, instance)
        obj = manifests.object_name(name)
        namespace = self._namespace(spec.kubernetes.namespace)
        _require_image(spec)
        labels = manifests.server_labels(spec, generation, instance, obj, self.settings.agent_name)
        body = manifests.deployment(spec, obj, namespace, labels, self.settings)
        if spec.secret_env:
            await self._put_secret(manifests.env_secret(obj, namespace, labels, spec.secret_env))
        created = await self._create(api.apps.create_namespaced_deployment, api.apps.read_namespaced_deployment, body)
        await self._create(api.core.create_namespaced_service, None, manifests.service(spec, obj, namespace, labels))
        self._cache.seed("Deployment", namespace, created)
        return CodeServerHandle.of(
            self.kind,
            spec.name,
            generation,
            instance,
            url=self.settings.server_url_template.format(service=obj, namespace=namespace, port=spec.port),
            ref={"namespace": namespace, "object": obj, "startup_timeout_s": math.ceil(spec.startup_timeout_s)},
            launched_at=manifests.created_at(created),
        )

    async def server_state(self, handle: CodeServerHandle) -> ProcessView:
        """RUNNING while a pod is ready; EXITED/LOST once every pod has failed or the Deployment is gone."""
        await self._synced()
        namespace, obj = _server_ref(handle)
        observed = self._cache.observe("Deployment", namespace, obj)
        timeout = float(handle.ref.get("startup_timeout_s", 60))
        return reasons.server_view(observed, self._clock(handle.launched_at), self.settings, timeout)

    async def stop_server(self, handle: CodeServerHandle, grace_s: float) -> StopResult:
        """Delete the Deployment (its pods get their grace period) and the Service; idempotent."""
        namespace, obj = _server_ref(handle)
        return await self._delete_server(namespace, obj, grace_s)

    async def _delete_server(self, namespace: str, obj: str, grace_s: float) -> StopResult:
        api = self._start()
        options = {"grace_period_seconds": math.ceil(grace_s), "propagation_policy": "Foreground"}
        found = await self._delete(api.apps.delete_namespaced_deployment, obj, namespace, **options)
        found = await self._delete(api.core.delete_namespaced_service, obj, namespace) or found
        await self._delete(api.core.delete_namespaced_secret, obj, namespace)  # its secret_env, if it had one
        if not found:
            return StopResult(stopped=True, detail="already gone")
        # Foreground deletion keeps the Deployment until its pods are gone: its disappearance means stopped.
        gone = await self._wakeups.until(
            obj, lambda: self._cache.observe("Deployment", namespace, obj).owner is None, grace_s + STOP_EXTRA_S
        )
        detail = "deleted the Deployment and Service" + ("" if gone else "; pods still terminating")
        return StopResult(stopped=True, detail=detail)

    async def wait_server_end(self, handle: CodeServerHandle, timeout_s: float) -> ProcessView:
        """The server's view once it has ended (woken by watch events), or its current view after `timeout_s`."""
        self._start()
        obj = _server_ref(handle)[1]
        return await self._wakeups.until_view(obj, lambda: self.server_state(handle), ENDED, timeout_s)

    # ---- run workers ----------------------------------------------------------------------

    async def launch_worker(self, request: LaunchRunInput, token: TokenSource) -> RunWorkerHandle:
        """Create the attempt's Job (and its token Secret), or adopt the Job that exists, finished or not."""
        api = await self._synced()
        name = run_worker_name(request.run_id, request.attempt)
        options = manifests.effective_options(request.location.kubernetes, request.kubernetes)
        namespace = self._namespace(options.namespace)
        _require_image(request.location)
        job = await self._read(api.batch.read_namespaced_job, name, namespace)
        if job is None:
            if await self._stop_requested(name):
                raise LaunchError("stopped before it started: not launching")
            labels = manifests.worker_labels(request, name, self.settings.agent_name)
            secret = manifests.token_secret(name, namespace, labels, await token(), request.location.secret_env)
            await self._put_secret(secret)
            body = manifests.job(request, options, name, namespace, labels, self.settings, self._control_plane_url)
            job = await self._create(api.batch.create_namespaced_job, api.batch.read_namespaced_job, body)
            if await self._stop_requested(name):
                # A stop ran while we created the Job and may have looked too early: remove it ourselves.
                await self._remove_job(namespace, name, 0)
                await self._delete(api.core.delete_namespaced_secret, name, namespace)
                raise LaunchError("stopped while starting: not launching")
        await self._own_secret(namespace, job)
        self._cache.seed("Job", namespace, job)
        return RunWorkerHandle.of(
            self.kind,
            request.run_id,
            request.attempt,
            ref={
                "namespace": namespace,
                "start_timeout_s": math.ceil(request.start_timeout_s or self.settings.worker_start_timeout_s),
            },
            launched_at=manifests.created_at(job),
        )

    async def worker_state(self, handle: RunWorkerHandle) -> ProcessView:
        """The Job's pod: PENDING, RUNNING, EXITED with its exit status, or LOST with the concrete reason."""
        await self._synced()
        if handle.name in self._verdicts:
            return self._verdicts[handle.name]
        namespace = str(handle.ref.get("namespace", self.settings.namespace))
        observed = self._cache.observe("Job", namespace, handle.name)
        timeout = float(handle.ref.get("start_timeout_s", self.settings.worker_start_timeout_s))
        verdict = reasons.worker_view(observed, self._clock(handle.launched_at), self.settings, timeout)
        if verdict.stuck:
            # Nothing else would remove a pod stuck in ImagePullBackOff or Pending: do it, remember why.
            self._verdicts[handle.name] = verdict.view
            while len(self._verdicts) > MAX_VERDICTS:
                self._verdicts.popitem(last=False)
            self._spawn(self._remove_stuck(namespace, handle.name))
        return verdict.view

    async def wait_worker(self, handle: RunWorkerHandle, phases: frozenset[Phase], timeout_s: float) -> ProcessView:
        """The worker's view once its phase is in `phases` (woken by watch events), or after `timeout_s`."""
        self._start()
        return await self._wakeups.until_view(handle.name, lambda: self.worker_state(handle), phases, timeout_s)

    async def stop_worker(self, run_id: str, attempt: int, grace_s: float) -> StopResult:
        """Refuse later launches of the attempt, then delete its pod (with the grace period) and Job."""
        api = self._start()
        name = run_worker_name(run_id, attempt)
        ended = self._ended_worker(name)
        marker = manifests.stop_marker(name, self.settings.namespace, run_id, attempt, self.settings.agent_name, _now())
        await self._create(api.core.create_namespaced_config_map, None, marker)
        found = False
        for namespace in self.settings.namespaces():
            found = await self._remove_job(namespace, name, grace_s) or found
            await self._delete(api.core.delete_namespaced_secret, name, namespace)
        if not found:
            return StopResult(stopped=False, detail="no Job: never started (a later launch is refused)")
        namespaces = self.settings.namespaces()
        gone = await self._wakeups.until(
            name, lambda: not any(self._cache.pods(ns, name) for ns in namespaces), grace_s + STOP_EXTRA_S
        )
        detail = "deleted the Job" + ("" if gone else "; its pod is still terminating")
        if ended is not None:
            # It had ended by itself before the stop: how tells the workflow whether its outcome stands.
            return StopResult(stopped=True, detail=detail, exit_code=ended.exit_code, signal=ended.signal)
        return StopResult(stopped=True, detail=detail)

    # ---- orphans (activities/launchers/orphans.py) -----------------------------------------

    async def managed(self) -> list[Managed]:
        """Every code-server Deployment and unfinished run Job of this agent in the watch cache."""
        self._start()
        return inventory.managed(self._cache) if self._cache.synced() else []

    async def stop_orphan(self, item: Managed, grace_s: float) -> None:
        """Delete an orphan's Job (marked stopped: never relaunched) or its Deployment and Service."""
        if item.kind == "worker":
            await self.stop_worker(item.run_id, item.attempt, grace_s)
            return
        for namespace, obj in inventory.server_objects(self._cache, item):
            await self._delete_server(namespace, obj, grace_s)

    def _ended_worker(self, name: str) -> ProcessView | None:
        """The view of a worker whose pod had already exited (from the watch cache), else None."""
        for namespace in self.settings.namespaces():
            observed = self._cache.observe("Job", namespace, name)
            view = reasons.worker_view(observed, reasons.Clock(now=time.monotonic(), age_s=0.0), self.settings, 0.0)
            if view.view.phase is Phase.EXITED:
                return view.view
        return None

    async def log_tail(self, name: str, max_bytes: int = 4000) -> str:
        """The last lines of the newest pod of a server or worker (of its previous container after a crash)."""
        api = self._start()
        obj = manifests.object_name(name)
        located = self._cache.locate(obj)
        if located is None:
            return ""
        pods = reasons.sorted_pods(self._cache.pods(located[1], obj))
        if not pods:
            return ""
        pod = pods[-1]
        container = reasons.main_container(pod) or {}
        previous = bool(container.get("restartCount")) and not (container.get("state") or {}).get("running")
        try:
            text = await api.text(
                api.core.read_namespaced_pod_log,
                pod["metadata"]["name"],
                located[1],
                tail_lines=LOG_LINES,
                previous=previous or None,
            )
        except ApiError as err:
            log.info("no log of %s: %s", name, err)
            return ""
        return text[-max_bytes:]

    # ---- housekeeping -----------------------------------------------------------------------

    async def sweep_stop_markers(self) -> int:
        """Delete the stop markers older than `tombstone_ttl_s`; how many went."""
        api = self._start()
        namespace = self.settings.namespace
        selector = f"{manifests.selector(self.settings.agent_name)},{manifests.COMPONENT}={manifests.STOP_MARKER}"
        listing = await self._api.call(api.core.list_namespaced_config_map, namespace, label_selector=selector)
        removed = 0
        for item in listing.get("items") or []:
            meta = item.get("metadata") or {}
            if not manifests.is_ours(item, self.settings.agent_name):
                continue
            if (meta.get("labels") or {}).get(manifests.COMPONENT) != manifests.STOP_MARKER:
                continue
            stopped_at = manifests.parse_time((meta.get("annotations") or {}).get(manifests.STOPPED_AT))
            if stopped_at and (_now() - stopped_at).total_seconds() > self.settings.tombstone_ttl_s:
                removed += await self._delete(api.core.delete_namespaced_config_map, meta["name"], namespace)
        return removed

    async def aclose(self) -> None:
        """Stop the watches and background tasks; release the client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.stop)
            self._watcher = None
        self._api.close()

    # ---- machinery ----------------------------------------------------------------------------

    def _start(self) -> KubeApi:
        """Start the watches on first use (they need the running loop to wake waiters)."""
        if self._watcher is None:
            self._wakeups.bind(asyncio.get_running_loop())
            api = self._api
            kinds = [
                WatchedKind("Deployment", api.apps.list_namespaced_deployment),
                WatchedKind("Job", api.batch.list_namespaced_job),
                WatchedKind("Pod", api.core.list_namespaced_pod),
                WatchedKind("Event", api.core.list_namespaced_event, ours_only=False),
            ]
            self._watcher = Watcher(self._cache, kinds, self.settings.namespaces(), self.settings)
            self._watcher.start()
            self._spawn(self._sweep_forever())
        return self._api

    async def _synced(self) -> KubeApi:
        """Start the watches if need be and wait for their first list (`sync_timeout_s`): until then the cache
        cannot tell a missing object from one not listed yet. A retryable error after that long."""
        api = self._start()
        if self._cache.synced():
            return api
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.sync_timeout_s
        while not self._cache.synced():
            if loop.time() >= deadline:
                why = (self._watcher.last_error if self._watcher else "") or "no answer yet"
                raise ApplicationError(
                    f"the Kubernetes API has not answered the launcher's watches within "
                    f"{self.settings.sync_timeout_s:g} s ({why}); retrying",
                    type="KubernetesUnavailable",
                )
            await asyncio.sleep(SYNC_POLL_S)
        return api

    def _namespace(self, requested: str | None) -> str:
        namespace = requested or self.settings.namespace
        if namespace not in self.settings.namespaces():
            watched = ", ".join(self.settings.namespaces())
            raise LaunchError(
                f"namespace '{namespace}' is not one this agent watches ({watched}): add it to "
                "LONGSHOREMAN_KUBERNETES__EXTRA_NAMESPACES and bind the agent's Role there"
            )
        return namespace

    async def _create(self, create: Callable[..., Any], read: Callable[..., Any] | None, body: Body) -> Body:
        """Create `body`; on 409 Conflict adopt the existing object (read it back if `read` is given)."""
        meta = body["metadata"]
        try:
            return await self._api.call(create, meta["namespace"], body)
        except ApiError as err:
            if err.status != 409:
                what = f"{body['kind']} {meta['namespace']}/{meta['name']}"
                raise LaunchError(f"cannot create {what}: {err}", final=err.final) from None
        if read is None:
            return body
        existing = await self._read(read, meta["name"], meta["namespace"])
        if existing is None:  # deleted between the conflict and the read: a retry will create it
            raise LaunchError(f"{body['kind']} {meta['name']} vanished while being adopted", final=False)
        return existing

    async def _read(self, read: Callable[..., Any], name: str, namespace: str) -> Body | None:
        try:
            return await self._api.call(read, name, namespace)
        except ApiError as err:
            if err.status == 404:
                return None
            raise LaunchError(f"cannot read {namespace}/{name}: {err}", final=err.final) from None

    async def _delete(self, delete: Callable[..., Any], name: str, namespace: str, **options: Any) -> bool:
        """Delete by name; False if it was not there. Other errors propagate (the stop activity retries)."""
        try:
            await self._api.call(delete, name, namespace, **options)
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    async def _put_secret(self, secret: Body) -> None:
        """Create a Secret (a run's token, a server's secret_env); one left by an interrupted launch is updated."""
        api, meta = self._api, secret["metadata"]
        try:
            await api.call(api.core.create_namespaced_secret, meta["namespace"], secret)
        except ApiError as err:
            if err.status != 409:
                raise LaunchError(f"cannot create Secret {meta['name']}: {err}", final=err.final) from None
            patch = {"data": secret["data"]}
            await api.call(
                api.core.patch_namespaced_secret, meta["name"], meta["namespace"], patch, _content_type=MERGE_PATCH
            )

    async def _own_secret(self, namespace: str, job: Body) -> None:
        patch = manifests.owner_patch(job)
        if patch is None:
            return
        api, name = self._api, job["metadata"]["name"]
        try:
            await api.call(api.core.patch_namespaced_secret, name, namespace, patch, _content_type=MERGE_PATCH)
        except ApiError as err:
            # Not fatal: the Job runs either way; an unowned Secret is deleted by stop_worker or left to an admin.
            if err.status != 404:
                log.warning("cannot make Job %s own its token Secret: %s", name, err)

    async def _stop_requested(self, name: str) -> bool:
        api = self._api
        marker = await self._read(
            api.core.read_namespaced_config_map, manifests.marker_name(name), self.settings.namespace
        )
        return marker is not None

    async def _remove_stuck(self, namespace: str, name: str) -> None:
        try:
            await self._remove_job(namespace, name, 0)
        except Exception as err:  # the verdict stands; the Job's deadline or an operator removes it instead
            log.warning("cannot remove the stuck Job %s: %s", name, err)

    async def _remove_job(self, namespace: str, name: str, grace_s: float) -> bool:
        """Delete the pods with the grace period (SIGTERM, then SIGKILL), then the Job; False if no Job."""
        api = self._api
        grace = math.ceil(grace_s)
        for pod in self._cache.pods(namespace, name):
            await self._delete(
                api.core.delete_namespaced_pod, pod["metadata"]["name"], namespace, grace_period_seconds=grace
            )
        return await self._delete(
            api.batch.delete_namespaced_job,
            name,
            namespace,
            grace_period_seconds=grace,
            propagation_policy="Background",
        )

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep_stop_markers()
            except Exception as err:  # housekeeping must never take the launcher down
                log.warning("sweeping stop markers failed: %s", err)
            await asyncio.sleep(SWEEP_S)

    def _clock(self, launched_at: datetime) -> reasons.Clock:
        return reasons.Clock(now=time.monotonic(), age_s=(_now() - launched_at).total_seconds())


def _require_image(spec: LocationSpec) -> None:
    if not spec.image:
        raise LaunchError("the kubernetes launcher needs a container image: set the location's `image`")


def _server_ref(handle: CodeServerHandle) -> tuple[str, str]:
    return str(handle.ref.get("namespace", "default")), str(
        handle.ref.get("object", manifests.object_name(handle.name))
    )


def _now() -> datetime:
    return datetime.now(UTC)
