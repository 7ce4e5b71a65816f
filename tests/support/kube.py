"""A Kubernetes API for tests: kmock's emulator on a real port, plus a hand that plays the missing controllers.

kmock keeps objects in memory and serves list/watch/get/create/patch/delete over HTTP; it has no
controllers, no scheduler and no kubelet. `Cluster` plays those parts by writing to the API exactly as
they would (a pod from a Job's template, a pod's status, an event), so the launcher under test sees
nothing but real API traffic through the official client.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kmock
from kubernetes import client

from activities.launchers.kubernetes.settings import KubernetesLauncherSettings

Body = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
NAMESPACE = "runs"
RESOURCES = (
    "apps/v1/deployments",
    "batch/v1/jobs",
    "v1/pods",
    "v1/services",
    "v1/secrets",
    "v1/configmaps",
    "v1/events",
)


def launcher_settings(kube: KubeServer, **overrides: Any) -> KubernetesLauncherSettings:
    """Launcher settings against the emulator; short grace periods so failures show at once."""
    values: dict[str, Any] = {
        "api_url": kube.url,
        "namespace": NAMESPACE,
        "agent_name": "agent-a",
        "image_pull_grace_s": 0.0,
        "config_error_grace_s": 0.0,
        "missing_grace_s": 0.5,
        "job_ttl_s": 600,
    }
    return KubernetesLauncherSettings(**(values | overrides))


class ApiServer(kmock.KubernetesEmulator):
    """kmock's emulator plus what any API server stamps on a new object: uid, creationTimestamp, namespace."""

    async def _handle(self, request: kmock.Request) -> Any:
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            if request.namespace:
                meta.setdefault("namespace", request.namespace)
        return await super()._handle(request)


@dataclass(frozen=True)
class Call:
    """One request the API server received."""

    method: str
    path: str
    params: dict[str, str]
    user_agent: str


class KubeServer:
    """The emulator on 127.0.0.1:<free port>, served from a thread with its own event loop."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kmock", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._handler: ApiServer | None = None
        self.url = ""

    def start(self) -> KubeServer:
        """Serve until stop()."""
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("kmock did not start")
        return self

    def stop(self) -> None:
        """Stop serving (open watches end)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def calls(self) -> list[Call]:
        """Every request served so far, oldest first."""
        assert self._handler is not None
        return [
            Call(str(r.method.value).upper(), r.url.path, dict(r.params), r.headers.get("User-Agent", ""))
            for r in list(self._handler)
        ]

    def serve_log(self, namespace: str, pod: str, text: str) -> None:
        """Answer GET .../pods/<pod>/log with `text` (kmock would answer with the pod object)."""

        async def install() -> None:
            assert self._handler is not None
            self._handler[f"get /api/v1/namespaces/{namespace}/pods/{pod}/log"] << text.encode()

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(install(), self._loop).result(10)

    def answer_once(self, path: str, status: int) -> None:
        """Answer the next GET of `path` with an error `status` (e.g. a 404 that races a create); then as usual."""
        left = [status]

        def once(request: kmock.Request) -> object:
            # An exception becomes a Kubernetes Status answer; NotImplemented passes on to the emulator.
            return kmock.KubernetesError(status=left.pop(), reason="Injected") if left else NotImplemented

        async def install() -> None:
            assert self._handler is not None
            self._handler[f"get {path}"] << once  # type: ignore[operator]

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(install(), self._loop).result(10)

    def _serve(self) -> None:
        async def main() -> None:
            async with ApiServer() as handler, kmock.Server(handler) as server:
                for resource in RESOURCES:
                    handler.resources[resource] = kmock.ResourceInfo()
                self._handler, self._loop, self._stop = handler, asyncio.get_running_loop(), asyncio.Event()
                self.url = str(server.url).rstrip("/")
                self._ready.set()
                await self._stop.wait()

        asyncio.run(main())


class Cluster:
    """The test's hand on the API: the scheduler, kubelet, controllers and event recorder kmock lacks."""

    def __init__(self, url: str, namespace: str) -> None:
        configuration = client.Configuration()
        configuration.host = url
        self.api = client.ApiClient(configuration)
        self.api.user_agent = "longshoreman-tests"  # the test's own requests are told apart from the agent's
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.namespace = namespace

    def close(self) -> None:
        """Release the connections."""
        self.api.close()

    # ---- reading ----

    def job(self, name: str) -> Body | None:
        """The Job as stored, or None."""
        return self._read(self.batch.read_namespaced_job, name)

    def deployment(self, name: str) -> Body | None:
        """The Deployment as stored, or None."""
        return self._read(self.apps.read_namespaced_deployment, name)

    def service(self, name: str) -> Body | None:
        """The Service as stored, or None."""
        return self._read(self.core.read_namespaced_service, name)

    def secret(self, name: str) -> Body | None:
        """The Secret as stored, or None."""
        return self._read(self.core.read_namespaced_secret, name)

    def pod(self, name: str) -> Body | None:
        """The pod as stored, or None."""
        return self._read(self.core.read_namespaced_pod, name)

    def _read(self, fn: Any, name: str) -> Body | None:
        import json

        try:
            return dict(json.loads(fn(name, self.namespace, _preload_content=False).data))
        except client.ApiException as err:
            if err.status == 404:
                return None
            raise

    # ---- playing the controllers ----

    def create_pod(self, owner: Body, suffix: str = "x1y2z") -> str:
        """What a Job or ReplicaSet controller does: a pod from the owner's template; its name."""
        template = owner["spec"]["template"]
        name = f"{owner['metadata']['name']}-{suffix}"
        pod: Any = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "labels": dict(template["metadata"]["labels"])},
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        }
        self.core.create_namespaced_pod(self.namespace, pod)
        return name

    def pod_status(self, pod: str, status: Body) -> None:
        """What the scheduler and kubelet report."""
        self.core.patch_namespaced_pod_status(pod, self.namespace, {"status": status}, _content_type=MERGE_PATCH)

    def job_status(self, name: str, status: Body) -> None:
        """What the Job controller reports."""
        self.batch.patch_namespaced_job_status(name, self.namespace, {"status": status}, _content_type=MERGE_PATCH)

    def deployment_status(self, name: str, status: Body) -> None:
        """What the Deployment controller reports."""
        self.apps.patch_namespaced_deployment_status(
            name, self.namespace, {"status": status}, _content_type=MERGE_PATCH
        )

    def event(self, kind: str, name: str, reason: str, message: str, type_: str = "Warning") -> None:
        """What the event recorder writes about an object."""
        event: Any = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:8]}", "namespace": self.namespace},
            "involvedObject": {"kind": kind, "name": name, "namespace": self.namespace},
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
        }
        self.core.create_namespaced_event(self.namespace, event)

    def delete_pod(self, name: str) -> None:
        """What a node failure or an administrator's `kubectl delete pod` does."""
        self.core.delete_namespaced_pod(name, self.namespace)

    def delete_deployment(self, name: str) -> None:
        """What an administrator's `kubectl delete` does."""
        self.apps.delete_namespaced_deployment(name, self.namespace)


# ---- pod statuses ---------------------------------------------------------------------------------


def container(name: str, **state: Any) -> Body:
    """A container status with `state=` and optionally `lastState=`/`restartCount=`."""
    status: Body = {"name": name, "image": "img", "imageID": "", "ready": False, "restartCount": 0}
    status.update(state)
    return status


def running(name: str) -> Body:
    """The pod runs its container."""
    return {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
        "containerStatuses": [container(name, state={"running": {"startedAt": "2026-01-01T00:00:00Z"}})],
    }


def terminated(name: str, exit_code: int, reason: str = "Error", message: str = "") -> Body:
    """The pod's container ended."""
    ended = {"exitCode": exit_code, "reason": reason, "message": message, "startedAt": "2026-01-01T00:00:00Z"}
    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
        "containerStatuses": [container(name, state={"terminated": ended})],
    }


def waiting(name: str, reason: str, message: str) -> Body:
    """The pod's container cannot start."""
    return {
        "phase": "Pending",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "containerStatuses": [container(name, state={"waiting": {"reason": reason, "message": message}})],
    }


def unschedulable(message: str) -> Body:
    """The scheduler found no node."""
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    return {"phase": "Pending", "conditions": [condition]}


def kube_server() -> Iterator[KubeServer]:
    """Generator behind the `kube` fixture."""
    server = KubeServer().start()
    try:
        yield server
    finally:
        server.stop()
