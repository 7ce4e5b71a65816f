"""The shared watch cache: one list + watch per resource kind and namespace feeds every state call.

State calls happen many times a second per supervised server or run; they read this cache and never
touch the API server. Each (kind, namespace) has a thread that lists (rebuilding its part of the cache,
which is also how an agent re-attaches after a restart), then watches from the list's resourceVersion,
re-watches when the server ends the stream, and relists after an error or a 410 Gone. Objects are kept
only if they carry this agent's labels: the server may ignore label selectors, so the cache filters again.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from activities.launchers.kubernetes import manifests
from activities.launchers.kubernetes.reasons import STUCK_REASONS, Observed, has_run
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings

log = logging.getLogger("longshoreman.kubernetes.watch")
Body = dict[str, Any]
OWNER_KINDS = ("Deployment", "Job")
EVENT_KINDS = {"Pod", "Job", "Deployment", "ReplicaSet"}
EVENTS_PER_OBJECT = 8
EVENT_OBJECTS = 4096
BACKOFF_S = (0.5, 30.0)


@dataclass(frozen=True)
class WatchedKind:
    """One resource kind the launcher watches: its list function and whether to filter by our labels."""

    kind: str
    list_fn: Callable[..., Any]
    ours_only: bool = True


class WatchCache:
    """Deployments, Jobs, their pods and recent events, by namespace and name; thread-safe."""

    def __init__(self, agent: str, on_change: Callable[[str], None] | None = None) -> None:
        self._agent = agent
        self._lock = threading.Lock()
        self._owners: dict[tuple[str, str, str], Body] = {}  # (kind, namespace, name)
        self._pods: dict[tuple[str, str], dict[str, Body]] = {}  # (namespace, owner name) -> pod name -> pod
        self._events: OrderedDict[tuple[str, str], deque[Body]] = OrderedDict()  # (namespace, object name)
        self._waiting: dict[tuple[str, str, str], tuple[str, float]] = {}  # (namespace, pod, container)
        self._emptied: dict[tuple[str, str], float] = {}  # (namespace, owner) -> when its last pod went
        self._ran: set[tuple[str, str]] = set()  # (namespace, owner) whose container was seen running
        self._synced: set[tuple[str, str]] = set()
        self._expected: set[tuple[str, str]] = set()
        self._on_change = on_change or (lambda name: None)

    # ---- writes (watch threads) ----

    def expect(self, kind: str, namespace: str) -> None:
        """Register a (kind, namespace) that must be listed before the cache counts as synced."""
        with self._lock:
            self._expected.add((kind, namespace))

    def replace(self, kind: str, namespace: str, items: list[Body]) -> None:
        """A fresh list of one kind in one namespace: drop what it no longer has."""
        changed: set[str] = set()
        with self._lock:
            if kind == "Event":
                for item in items:
                    self._add_event(namespace, item)
            elif kind == "Pod":
                before = {owner for owner in self._pods if owner[0] == namespace}
                for owner in before:
                    changed.add(owner[1])
                    del self._pods[owner]
                for item in items:
                    changed.add(self._put_pod(namespace, item))
                for owner in before - set(self._pods):
                    self._emptied.setdefault(owner, time.monotonic())
                present = {name for (ns, _), pods in self._pods.items() if ns == namespace for name in pods}
                for key in [k for k in self._waiting if k[0] == namespace and k[1] not in present]:
                    del self._waiting[key]
            else:
                for key in [key for key in self._owners if key[:2] == (kind, namespace)]:
                    changed.add(key[2])
                    del self._owners[key]
                for item in items:
                    changed.add(self._put_owner(kind, namespace, item))
            self._synced.add((kind, namespace))
        self._notify(changed)

    def apply(self, kind: str, namespace: str, event_type: str, obj: Body) -> None:
        """One watch event."""
        with self._lock:
            if kind == "Event":
                if event_type != "DELETED":
                    self._add_event(namespace, obj)
                return
            name = obj.get("metadata", {}).get("name", "")
            if kind == "Pod":
                changed = self._drop_pod(namespace, obj) if event_type == "DELETED" else self._put_pod(namespace, obj)
            elif event_type == "DELETED":
                changed = name if self._owners.pop((kind, namespace, name), None) is not None else ""
                self._emptied.pop((namespace, name), None)
                self._ran.discard((namespace, name))
            else:
                changed = self._put_owner(kind, namespace, obj)
        self._notify({changed})

    def seed(self, kind: str, namespace: str, obj: Body) -> None:
        """What a create or get just returned, unless the watch already delivered something (it is newer)."""
        name = obj.get("metadata", {}).get("name", "")
        with self._lock:
            if (kind, namespace, name) not in self._owners:
                self._put_owner(kind, namespace, obj)

    def _put_owner(self, kind: str, namespace: str, obj: Body) -> str:
        if not manifests.is_ours(obj, self._agent):
            return ""
        name = obj["metadata"]["name"]
        self._owners[(kind, namespace, name)] = obj
        return str(name)

    def _put_pod(self, namespace: str, pod: Body) -> str:
        owner = (pod.get("metadata", {}).get("labels") or {}).get(manifests.NAME)
        if not owner or not manifests.is_ours(pod, self._agent):
            return ""
        name = pod["metadata"]["name"]
        self._pods.setdefault((namespace, owner), {})[name] = pod
        self._emptied.pop((namespace, owner), None)
        if has_run(pod):
            self._ran.add((namespace, owner))
        # Grace periods of stuck containers count from the moment we first saw them stuck.
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            key = (namespace, name, container.get("name", ""))
            reason = ((container.get("state") or {}).get("waiting") or {}).get("reason", "")
            kind = STUCK_REASONS.get(reason)
            if kind is None:
                self._waiting.pop(key, None)
            elif self._waiting.get(key, ("",))[0] != kind:
                self._waiting[key] = (kind, time.monotonic())
        return str(owner)

    def _drop_pod(self, namespace: str, pod: Body) -> str:
        owner = (pod.get("metadata", {}).get("labels") or {}).get(manifests.NAME, "")
        name = pod.get("metadata", {}).get("name", "")
        pods = self._pods.get((namespace, owner))
        if pods is not None:
            pods.pop(name, None)
            if not pods:
                del self._pods[(namespace, owner)]
                self._emptied[(namespace, owner)] = time.monotonic()
        for key in [key for key in self._waiting if key[:2] == (namespace, name)]:
            del self._waiting[key]
        return str(owner)

    def _add_event(self, namespace: str, event: Body) -> None:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") not in EVENT_KINDS:
            return
        key = (namespace, str(involved.get("name", "")))
        events = self._events.pop(key, None) or deque(maxlen=EVENTS_PER_OBJECT)
        uid = event.get("metadata", {}).get("name")
        # A repeated event comes back as a modification of the same object (count + 1): keep the latest.
        for old in [e for e in events if e.get("metadata", {}).get("name") == uid]:
            events.remove(old)
        events.append(event)
        self._events[key] = events
        while len(self._events) > EVENT_OBJECTS:
            self._events.popitem(last=False)

    def _notify(self, names: set[str]) -> None:
        for name in names:
            if name:
                self._on_change(name)

    # ---- reads (the event loop) ----

    def synced(self) -> bool:
        """Every expected (kind, namespace) has been listed at least once."""
        with self._lock:
            return bool(self._expected) and self._expected <= self._synced

    def observe(self, kind: str, namespace: str, name: str) -> Observed:
        """Everything known about the server or worker `name`."""
        with self._lock:
            owner = self._owners.get((kind, namespace, name))
            pods = list(self._pods.get((namespace, name), {}).values())
            involved = [name] + [pod["metadata"]["name"] for pod in pods]
            events = {n: list(self._events.get((namespace, n), ())) for n in involved}
            waiting = {
                (pod_name, container): since
                for (ns, pod_name, container), since in self._waiting.items()
                if ns == namespace and pod_name in involved
            }
            synced = bool(self._expected) and self._expected <= self._synced
            gone = self._emptied.get((namespace, name))
            ran = (namespace, name) in self._ran
        return Observed(synced, owner, pods, events, waiting_since=waiting, pods_gone_since=gone, ran=ran)

    def owners(self, kind: str) -> list[tuple[str, Body]]:
        """(namespace, object) of every cached Deployment or Job of this agent."""
        with self._lock:
            return [(namespace, obj) for (k, namespace, _), obj in self._owners.items() if k == kind]

    def pods(self, namespace: str, name: str) -> list[Body]:
        """The pods of server or worker `name`."""
        with self._lock:
            return list(self._pods.get((namespace, name), {}).values())

    def locate(self, name: str) -> tuple[str, str] | None:
        """(kind, namespace) of the Deployment or Job called `name`, if cached."""
        with self._lock:
            for kind, namespace, owner in self._owners:
                if owner == name:
                    return kind, namespace
            for namespace, owner in self._pods:
                if owner == name:
                    return "", namespace
        return None


class Watcher:
    """The threads that keep a WatchCache current."""

    def __init__(
        self,
        cache: WatchCache,
        kinds: list[WatchedKind],
        namespaces: list[str],
        settings: KubernetesLauncherSettings,
    ) -> None:
        self._cache = cache
        self._settings = settings
        self._stop = threading.Event()
        self._streams: set[Any] = set()
        self._streams_lock = threading.Lock()
        self.last_error = ""  # why the last list or watch failed, for a launcher that waits for the first sync
        self._threads = [
            threading.Thread(target=self._run, args=(kind, ns), name=f"k8s-watch-{kind.kind}-{ns}", daemon=True)
            for kind in kinds
            for ns in namespaces
        ]
        for kind in kinds:
            for ns in namespaces:
                cache.expect(kind.kind, ns)

    def start(self) -> None:
        """Start every list + watch thread."""
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """End the watches: shut their sockets so blocked reads return at once."""
        self._stop.set()
        with self._streams_lock:
            streams = list(self._streams)
        for response in streams:
            _shutdown(response)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, kind: WatchedKind, namespace: str) -> None:
        delay = BACKOFF_S[0]
        while not self._stop.is_set():
            try:
                version = self._list(kind, namespace)
                delay = BACKOFF_S[0]
                resume: str | None = version
                while resume is not None and not self._stop.is_set():
                    resume = self._watch(kind, namespace, resume)  # None after 410 Gone: relist
            except Exception as err:  # the API may be down for a while: keep trying, quietly
                if self._stop.is_set():
                    return
                self.last_error = f"watch of {kind.kind} in {namespace} failed: {err}"
                log.warning("watch of %s in %s failed (%s); relisting in %.1f s", kind.kind, namespace, err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, BACKOFF_S[1])

    def _kwargs(self, kind: WatchedKind) -> dict[str, Any]:
        return {"label_selector": manifests.selector(self._settings.agent_name)} if kind.ours_only else {}

    def _list(self, kind: WatchedKind, namespace: str) -> str:
        response = kind.list_fn(
            namespace,
            _preload_content=False,
            _request_timeout=self._settings.request_timeout_s,
            **self._kwargs(kind),
        )
        body = json.loads(response.data)
        self._cache.replace(kind.kind, namespace, body.get("items") or [])
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, kind: WatchedKind, namespace: str, version: str) -> str | None:
        """Stream events until the server ends the watch; the version to resume from, or None to relist."""
        timeout = self._settings.watch_timeout_s
        response = kind.list_fn(
            namespace,
            watch=True,
            resource_version=version or None,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout,
            _preload_content=False,
            # A server that ignores timeout_seconds is caught by the read timeout instead.
            _request_timeout=(self._settings.request_timeout_s, timeout + 30),
            **self._kwargs(kind),
        )
        with self._streams_lock:
            self._streams.add(response)
        try:
            if self._stop.is_set():  # stop() ran while this request was on its way: it could not shut it
                return version
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return version
                event = json.loads(line) if line else None
                if not isinstance(event, dict):
                    continue
                obj = event.get("object") or {}
                kind_of_event = event.get("type")
                if kind_of_event == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
                version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                if kind_of_event in ("ADDED", "MODIFIED", "DELETED"):
                    self._cache.apply(kind.kind, namespace, str(kind_of_event), obj)
        finally:
            with self._streams_lock:
                self._streams.discard(response)
            response.close()
            response.release_conn()
        return version


def _shutdown(response: Any) -> None:
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
