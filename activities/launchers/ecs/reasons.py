"""What ECS says about a task, read as the launcher protocol's ProcessView, with a concrete reason.

A task goes PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED.
Once STOPPED, `stopCode` says who stopped it (TaskFailedToStart, EssentialContainerExited, UserInitiated,
ServiceSchedulerInitiated, SpotInterruption, TerminationNotice), `stoppedReason` says why in words, and the
container has its `exitCode` and its own `reason` (e.g. "OutOfMemoryError: Container killed due to memory usage").
"""

from __future__ import annotations

from typing import Any

from activities.launchers.base import Phase, ProcessView
from contracts.run_protocol import SIGNAL_EXIT_BASE

Body = dict[str, Any]
STARTING = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
MAX_SIGNAL = 64
MAX_MESSAGE = 500
# Reasons no new attempt with the same spec can fix: the image or its registry, a bad task definition.
FINAL_REASONS = ("CannotPullContainerError", "CannotCreateContainerError", "InvalidParameter")
# The reason the launcher gives StopTask: a stop any replica (or a restarted agent) recognises as the agent's own.
AGENT_STOP_REASON = "stopped by longshoreman agent"


def container(task: Body, name: str) -> Body:
    """The named container of a task (its only one, as the launcher defines them)."""
    containers = task.get("containers") or []
    return next((c for c in containers if c.get("name") == name), containers[0] if containers else {})


def task_view(task: Body | None, container_name: str, *, stop_requested: bool = False) -> ProcessView:
    """One task as a ProcessView; None (ECS does not describe it) is LOST."""
    if task is None:
        return ProcessView(phase=Phase.LOST, message="the task no longer exists in ECS (stopped long ago, or removed)")
    status = str(task.get("lastStatus") or "PROVISIONING")
    main = container(task, container_name)
    if status in STARTING:
        return ProcessView(phase=Phase.PENDING)
    if status != "STOPPED":
        # RUNNING and the shutdown states before STOPPED: the container may still be running the job.
        return ProcessView(phase=Phase.RUNNING, started=True)
    return stopped_view(task, main, stop_requested=stop_requested)


def stopped_view(task: Body, main: Body, *, stop_requested: bool = False) -> ProcessView:
    """How a STOPPED task ended: its container's exit code, or why ECS stopped it."""
    stop_code = str(task.get("stopCode") or "")
    stopped_reason = _clean(task.get("stoppedReason"))
    stop_requested = stop_requested or stopped_reason.startswith(AGENT_STOP_REASON)
    container_reason = _clean(main.get("reason"))
    started = bool(task.get("startedAt")) or main.get("exitCode") is not None
    detail = "; ".join(part for part in (container_reason, stopped_reason) if part)
    oom = "OutOfMemoryError" in container_reason or "OutOfMemory" in stopped_reason
    exit_code = main.get("exitCode")
    if stop_code == "TaskFailedToStart" or (exit_code is None and not oom):
        final = any(marker in detail for marker in FINAL_REASONS)
        if stop_code == "UserInitiated" and not stop_requested:
            # Stopped from the console or the CLI, not by this agent: someone wanted it stopped, do not retry.
            return ProcessView(phase=Phase.LOST, final=True, message=f"task stopped outside the agent: {detail}")
        what = (
            "task failed to start"
            if stop_code == "TaskFailedToStart"
            else f"task stopped ({stop_code or 'no stop code'})"
        )
        return ProcessView(phase=Phase.LOST, final=final, message=f"{what}: {detail or 'no reason given'}")
    code = int(exit_code) if exit_code is not None else None
    signal: int | None = None
    if code is not None and SIGNAL_EXIT_BASE < code <= SIGNAL_EXIT_BASE + MAX_SIGNAL and not oom:
        # Like docker: "killed by signal N" is exit code 128 + N.
        signal, code = code - SIGNAL_EXIT_BASE, None
    if stop_code == "UserInitiated" and not stop_requested:
        detail = f"task stopped outside the agent: {detail}"
    elif stop_code in ("SpotInterruption", "TerminationNotice", "ServiceSchedulerInitiated"):
        detail = f"{stop_code}: {detail}"
    elif stop_code == "EssentialContainerExited" and stopped_reason == "Essential container in task exited":
        detail = container_reason  # says nothing the exit code does not
    return ProcessView(
        phase=Phase.EXITED,
        exit_code=code,
        signal=signal,
        oom_killed=oom,
        started=started,
        message=detail,
    )


def private_ip(task: Body) -> str | None:
    """The task's private IPv4 address (its awsvpc network interface), once ECS has attached one."""
    for attachment in task.get("attachments") or []:
        for detail in attachment.get("details") or []:
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return str(detail["value"])
    return None


def _clean(text: object) -> str:
    return " ".join(str(text or "").split())[:MAX_MESSAGE]
