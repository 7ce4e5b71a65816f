"""From what the API says about a Job or Deployment and its pods to a ProcessView with a concrete reason.

Pure functions of the cached objects and the clock, so every rule is testable without an API server.
A failure's message names the cause first (OOMKilled, Evicted, ImagePullBackOff, CreateContainerConfigError,
Unschedulable, the exit code and termination message) and then attaches the pod's conditions and its most
recent events, which is what an operator would otherwise go and `kubectl describe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activities.launchers.base import Phase, ProcessView
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings

Body = dict[str, Any]

IMAGE_PULL = "image-pull"
CONFIG = "config"
# Waiting reasons that are not going to resolve by themselves (after a grace period: registries do hiccup).
STUCK_REASONS = {
    "ErrImagePull": IMAGE_PULL,
    "ImagePullBackOff": IMAGE_PULL,
    "InvalidImageName": IMAGE_PULL,
    "ErrImageNeverPull": IMAGE_PULL,
    "CreateContainerConfigError": CONFIG,
    "CreateContainerError": CONFIG,
}
NO_GRACE = {"InvalidImageName", "ErrImageNeverPull"}  # no retry of the kubelet's can fix these
MAX_EVENTS = 5
MAX_MESSAGE = 1800


@dataclass
class Observed:
    """What the watch cache holds about one server or worker."""

    synced: bool
    owner: Body | None  # the Deployment or the Job
    pods: list[Body] = field(default_factory=list)
    events: dict[str, list[Body]] = field(default_factory=dict)  # by involved object name
    waiting_since: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)  # (pod, container)
    pods_gone_since: float | None = None  # monotonic time its last pod disappeared (None: has pods, or never had)
    ran: bool = False  # a container of it was seen running at some point (its pod may be gone since)


@dataclass
class Verdict:
    """A view, and whether the launcher should remove a pod that is stuck for good."""

    view: ProcessView
    stuck: bool = False


@dataclass
class Clock:
    """The moment of judgement: `now` on the monotonic clock (for waiting_since), `age_s` since the launch."""

    now: float
    age_s: float


def worker_view(obs: Observed, clock: Clock, settings: KubernetesLauncherSettings, start_timeout_s: float) -> Verdict:
    """A run worker (Job + its one pod)."""
    if not obs.synced:
        return Verdict(ProcessView(phase=Phase.PENDING, message="waiting for the Kubernetes watch to sync"))
    job = obs.owner
    if job is None:
        if clock.age_s < settings.missing_grace_s:
            return Verdict(ProcessView(phase=Phase.PENDING, message="Job not seen yet"))
        message = f"the Job no longer exists (deleted, or removed {settings.job_ttl_s} s after it finished)"
        return Verdict(ProcessView(phase=Phase.LOST, message=message))
    pods = _live_pods(obs.pods)
    started = obs.ran or any(has_run(pod) for pod in obs.pods) or _condition(job, "Complete") is not None
    for pod in obs.pods:
        ended = _pod_ended(pod, obs, restarting=False)
        if ended is not None:
            return Verdict(ended.model_copy(update={"started": ended.started or started}))
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    status = job.get("status") or {}
    if complete is not None or status.get("succeeded"):
        return Verdict(ProcessView(phase=Phase.EXITED, exit_code=0, started=True))
    if failed is not None or status.get("failed"):
        reason, text = (failed or {}).get("reason", ""), (failed or {}).get("message", "")
        detail = _attach(f"{reason}: {text}" if reason else "the Job failed", None, obs, _name(job))
        if reason == "DeadlineExceeded":
            message = f"max runtime exceeded: the Job's activeDeadlineSeconds passed ({detail})"
            return Verdict(ProcessView(phase=Phase.EXITED, started=started, message=message))
        return Verdict(ProcessView(phase=Phase.LOST, started=started, message=detail))
    if any(_running(pod) for pod in pods):
        return Verdict(ProcessView(phase=Phase.RUNNING, started=True))
    if _vanished(obs, clock, settings):
        message = _attach("the Job's pod vanished (deleted, or its node went away) and was not replaced", None, obs)
        return Verdict(ProcessView(phase=Phase.LOST, started=started, message=message))
    for pod in pods:
        stuck = _stuck(pod, obs, clock, settings, start_timeout_s)
        if stuck is not None:
            return Verdict(stuck.model_copy(update={"started": started}), stuck=True)
    return Verdict(ProcessView(phase=Phase.PENDING, started=started, message=_pending(pods, obs)))


def server_view(
    obs: Observed, clock: Clock, settings: KubernetesLauncherSettings, startup_timeout_s: float
) -> ProcessView:
    """A code server (Deployment + its pods): running while any pod is ready; failed when every pod has failed."""
    if not obs.synced:
        return ProcessView(phase=Phase.PENDING, message="waiting for the Kubernetes watch to sync")
    deployment = obs.owner
    if deployment is None:
        if clock.age_s < settings.missing_grace_s:
            return ProcessView(phase=Phase.PENDING, message="Deployment not seen yet")
        return ProcessView(phase=Phase.LOST, message="the Deployment no longer exists")
    pods = _live_pods(obs.pods)
    if (deployment.get("status") or {}).get("readyReplicas", 0) >= 1 or any(_ready(pod) for pod in pods):
        return ProcessView(phase=Phase.RUNNING, started=True)
    if _vanished(obs, clock, settings):
        cause = f"every pod of the Deployment vanished and none came back within {settings.missing_grace_s:g} s"
        return ProcessView(phase=Phase.LOST, message=_attach(cause, None, obs))
    verdicts: list[ProcessView] = []
    for pod in pods:
        ended = _pod_ended(pod, obs, restarting=True)
        stuck = None if ended else _stuck(pod, obs, clock, settings, startup_timeout_s)
        if ended is None and stuck is None:
            break  # this pod may still come up: the server is starting, not failed
        verdicts.append(ended or stuck or ProcessView(phase=Phase.LOST))
    else:
        if verdicts:
            return verdicts[0]
    progressing = _condition(deployment, "Progressing", status="False")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        message = _attach(f"ProgressDeadlineExceeded: {progressing.get('message', '')}", None, obs, _name(deployment))
        return ProcessView(phase=Phase.LOST, message=message)
    replica_failure = _condition(deployment, "ReplicaFailure")
    if replica_failure is not None and not pods:
        return ProcessView(phase=Phase.PENDING, message=f"pods cannot be created: {replica_failure.get('message')}")
    return ProcessView(phase=Phase.PENDING, message=_pending(pods, obs))


# ---- one pod -------------------------------------------------------------------------------------


def _pod_ended(pod: Body, obs: Observed, restarting: bool) -> ProcessView | None:
    """The pod's container has ended (or the pod was evicted or disrupted), else None.

    `restarting`: the pod restarts its container (a Deployment's): a crash shows as the last state of a
    container waiting in CrashLoopBackOff, not as a terminated one.
    """
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        message = _attach(f"Evicted: {status.get('message', 'the node ran short of resources')}", pod, obs)
        return ProcessView(phase=Phase.LOST, started=has_run(pod), message=message)
    disruption = _condition(pod, "DisruptionTarget")
    if disruption is not None and status.get("phase") == "Failed":
        cause = f"{disruption.get('reason', 'Disrupted')}: {disruption.get('message', '')}"
        return ProcessView(phase=Phase.LOST, started=has_run(pod), message=_attach(cause, pod, obs))
    container = main_container(pod)
    if container is None:
        return None
    terminated = (container.get("state") or {}).get("terminated")
    if terminated is None and restarting:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            terminated = (container.get("lastState") or {}).get("terminated")
    if terminated is None:
        return None
    return _exit_view(terminated, pod, obs)


def _exit_view(terminated: Body, pod: Body, obs: Observed) -> ProcessView:
    code = terminated.get("exitCode")
    reason = terminated.get("reason") or ""
    oom = reason == "OOMKilled"
    # By container convention an exit code of 128+N means "killed by signal N".
    signal = terminated.get("signal") or (code - 128 if isinstance(code, int) and 128 < code < 160 else None)
    written = (terminated.get("message") or "").strip()
    if code == 0 and not oom:
        return ProcessView(phase=Phase.EXITED, exit_code=0, started=True, message=written)
    cause = written or (reason if reason not in ("Error", "Completed", "") else "")
    if oom:
        cause = f"OOMKilled: the container exceeded its memory limit{'; ' + written if written else ''}"
    return ProcessView(
        phase=Phase.EXITED,
        exit_code=code if isinstance(code, int) else None,
        signal=signal,
        oom_killed=oom,
        started=True,
        message=_attach(cause, pod, obs) if (oom or signal or not written) else cause,
    )


def _stuck(
    pod: Body, obs: Observed, clock: Clock, settings: KubernetesLauncherSettings, start_timeout_s: float
) -> ProcessView | None:
    """Why this pod will not start by itself, once it has been in that state past its grace; else None.

    Image and config errors are final (another try fails the same way); unschedulable is not (capacity changes).
    """
    name = _name(pod)
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        kind = STUCK_REASONS.get(reason)
        if kind is None:
            continue
        grace = settings.image_pull_grace_s if kind == IMAGE_PULL else settings.config_error_grace_s
        since = obs.waiting_since.get((name, container.get("name", "")))
        waited = clock.now - since[1] if since else 0.0
        if reason in NO_GRACE or waited >= grace:
            what = "image pull failed" if kind == IMAGE_PULL else "container cannot be created"
            cause = f"{what}: {reason}: {waiting.get('message', '')}".rstrip(": ")
            message = _attach(f"{cause} (for {waited:.0f} s)" if reason not in NO_GRACE else cause, pod, obs)
            return ProcessView(phase=Phase.LOST, started=has_run(pod), message=message, final=True)
    scheduled = _condition(pod, "PodScheduled", status="False")
    if scheduled is not None and scheduled.get("reason") == "Unschedulable" and clock.age_s >= start_timeout_s:
        cause = f"Unschedulable for {clock.age_s:.0f} s (start timeout {start_timeout_s:g} s): "
        return ProcessView(
            phase=Phase.LOST, started=has_run(pod), message=_attach(cause + scheduled.get("message", ""), pod, obs)
        )
    return None


def _pending(pods: list[Body], obs: Observed) -> str:
    """What a starting worker or server is waiting for, in a few words."""
    if not pods:
        return "no pod yet"
    pod = pods[-1]
    scheduled = _condition(pod, "PodScheduled", status="False")
    if scheduled is not None:
        return f"{scheduled.get('reason', 'not scheduled')}: {scheduled.get('message', '')}"
    container = main_container(pod)
    waiting = ((container or {}).get("state") or {}).get("waiting") or {}
    if waiting:
        return f"{waiting.get('reason', 'waiting')}: {waiting.get('message', '')}".rstrip(": ")
    return f"pod {_name(pod)} is {(pod.get('status') or {}).get('phase', 'Pending')}"


def _vanished(obs: Observed, clock: Clock, settings: KubernetesLauncherSettings) -> bool:
    """It had pods, has none now, and no controller replaced them within the grace period."""
    gone = obs.pods_gone_since
    return not obs.pods and gone is not None and clock.now - gone >= settings.missing_grace_s


# ---- attachments -------------------------------------------------------------------------------


def _attach(cause: str, pod: Body | None, obs: Observed, owner: str | None = None) -> str:
    """`cause` followed by the pod's conditions and the most recent events of the pod (or the owner)."""
    parts = [cause.strip()]
    if pod is not None:
        conditions = [_describe_condition(c) for c in (pod.get("status") or {}).get("conditions") or []]
        parts.append(f"pod {_name(pod)} conditions: {', '.join(conditions) or 'none reported'}")
    names = [_name(pod)] if pod is not None else []
    names += [owner] if owner else []
    if obs.owner is not None and _name(obs.owner) not in names:
        names.append(_name(obs.owner))
    events = [event for name in names for event in obs.events.get(name, [])][-MAX_EVENTS:]
    if events:
        parts.append("recent events: " + "; ".join(_describe_event(e) for e in events))
    message = " | ".join(parts)
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _describe_condition(condition: Body) -> str:
    text = f"{condition.get('type')}={condition.get('status')}"
    why = ": ".join(part for part in (condition.get("reason"), condition.get("message")) if part)
    return f"{text} ({why})" if why else text


def _describe_event(event: Body) -> str:
    count = event.get("count") or 1
    times = f" (x{count})" if count > 1 else ""
    return f"{event.get('type', 'Normal')} {event.get('reason', '')}: {event.get('message', '')}{times}"


# ---- small readers --------------------------------------------------------------------------------


def _name(obj: Body) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _condition(obj: Body, kind: str, status: str = "True") -> Body | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == status:
            return dict(condition)
    return None


def sorted_pods(pods: list[Body]) -> list[Body]:
    """Pods oldest first."""
    return sorted(pods, key=lambda pod: (str(pod.get("metadata", {}).get("creationTimestamp") or ""), _name(pod)))


def _live_pods(pods: list[Body]) -> list[Body]:
    """Pods not on their way out, oldest first."""
    return sorted_pods([pod for pod in pods if not pod.get("metadata", {}).get("deletionTimestamp")])


def main_container(pod: Body) -> Body | None:
    """The status of the pod's (only) container."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return statuses[0] if statuses else None


def _running(pod: Body) -> bool:
    container = main_container(pod)
    return bool(container and (container.get("state") or {}).get("running") is not None)


def _ready(pod: Body) -> bool:
    return _condition(pod, "Ready") is not None


def has_run(pod: Body) -> bool:
    """The container got as far as running at some point."""
    container = main_container(pod) or {}
    state, last = container.get("state") or {}, container.get("lastState") or {}
    terminated = state.get("terminated") or last.get("terminated") or {}
    return state.get("running") is not None or bool(terminated.get("startedAt")) or bool(last)
