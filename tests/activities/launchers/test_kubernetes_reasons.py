"""The rules that turn pod and Job states into views, judged at explicit moments (no clocks, no API)."""

from __future__ import annotations

from typing import Any

from activities.launchers.base import Phase
from activities.launchers.kubernetes import reasons
from activities.launchers.kubernetes.reasons import Clock, Observed
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings
from tests.support.kube import container, running, terminated, unschedulable, waiting

SETTINGS = KubernetesLauncherSettings(image_pull_grace_s=60, config_error_grace_s=30, missing_grace_s=30)
JOB = {"metadata": {"name": "run-r1-a1"}, "status": {}}


def pod(status: dict[str, Any], name: str = "run-r1-a1-abcde") -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": status}


def observed(*pods: dict[str, Any], job: dict[str, Any] | None = JOB, **extra: Any) -> Observed:
    return Observed(synced=True, owner=job, pods=list(pods), **extra)


def test_an_image_pull_back_off_is_pending_within_its_grace_and_lost_after_it() -> None:
    stuck = pod(waiting("run", "ImagePullBackOff", 'Back-off pulling image "etl:1"'))
    seen = observed(stuck, waiting_since={("run-r1-a1-abcde", "run"): ("image-pull", 100.0)})
    early = reasons.worker_view(seen, Clock(now=159.0, age_s=59), SETTINGS, 120)
    assert early.view.phase is Phase.PENDING and not early.stuck
    assert early.view.message == 'ImagePullBackOff: Back-off pulling image "etl:1"'
    late = reasons.worker_view(seen, Clock(now=160.0, age_s=60), SETTINGS, 120)
    assert late.view.phase is Phase.LOST and late.stuck
    assert late.view.message.startswith(
        'image pull failed: ImagePullBackOff: Back-off pulling image "etl:1" (for 60 s)'
    )


def test_an_invalid_image_name_fails_without_waiting_for_the_grace() -> None:
    seen = observed(pod(waiting("run", "InvalidImageName", 'invalid reference format: "ETL"')))
    verdict = reasons.worker_view(seen, Clock(now=0.0, age_s=0), SETTINGS, 120)
    assert verdict.view.phase is Phase.LOST and verdict.stuck and "InvalidImageName" in verdict.view.message


def test_unschedulable_is_pending_until_the_start_timeout() -> None:
    seen = observed(pod(unschedulable("0/3 nodes are available: 3 Insufficient cpu.")))
    early = reasons.worker_view(seen, Clock(now=0.0, age_s=119), SETTINGS, 120)
    assert early.view.phase is Phase.PENDING
    assert early.view.message == "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
    late = reasons.worker_view(seen, Clock(now=0.0, age_s=120), SETTINGS, 120)
    assert late.view.phase is Phase.LOST and late.view.message.startswith("Unschedulable for 120 s")


def test_an_exit_code_of_128_plus_n_means_killed_by_signal_n() -> None:
    seen = observed(pod(terminated("run", 143, "Error")))
    view = reasons.worker_view(seen, Clock(now=0.0, age_s=5), SETTINGS, 120).view
    assert (view.phase, view.exit_code, view.signal, view.started) == (Phase.EXITED, 143, 15, True)


def test_a_job_past_its_deadline_ended_by_max_runtime_and_a_vanished_job_is_lost() -> None:
    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer"}
    job = {"metadata": {"name": "run-r1-a1"}, "status": {"conditions": [failed]}}
    view = reasons.worker_view(observed(job=job), Clock(now=0.0, age_s=900), SETTINGS, 120).view
    assert view.phase is Phase.EXITED and view.exit_code is None
    assert view.message.startswith("max runtime exceeded: the Job's activeDeadlineSeconds passed")
    young = reasons.worker_view(observed(job=None), Clock(now=0.0, age_s=29), SETTINGS, 120).view
    old = reasons.worker_view(observed(job=None), Clock(now=0.0, age_s=30), SETTINGS, 120).view
    assert young.phase is Phase.PENDING and old.phase is Phase.LOST


def test_nothing_is_concluded_before_the_watch_has_synced() -> None:
    seen = Observed(synced=False, owner=None)
    assert reasons.worker_view(seen, Clock(now=0.0, age_s=1e6), SETTINGS, 120).view.phase is Phase.PENDING
    assert reasons.server_view(seen, Clock(now=0.0, age_s=1e6), SETTINGS, 60).phase is Phase.PENDING


def test_a_server_with_one_ready_replica_runs_even_if_another_crashes() -> None:
    crash = {"waiting": {"reason": "CrashLoopBackOff"}}
    last = {"terminated": {"exitCode": 1, "reason": "Error", "message": "ImportError: sales"}}
    crashing = pod({"containerStatuses": [container("code-server", state=crash, lastState=last)]}, "s-1")
    deployment = {"metadata": {"name": "sales-g1-i1"}, "status": {}}
    both = observed(crashing, pod(running("code-server"), "s-2"), job=deployment)
    assert reasons.server_view(both, Clock(now=0.0, age_s=5), SETTINGS, 60).phase is Phase.RUNNING
    alone = reasons.server_view(observed(crashing, job=deployment), Clock(now=0.0, age_s=5), SETTINGS, 60)
    assert (alone.phase, alone.exit_code, alone.message) == (Phase.EXITED, 1, "ImportError: sales")


def test_a_failure_message_carries_the_pod_conditions_and_the_latest_events() -> None:
    events = [
        {"metadata": {"name": f"e{i}"}, "type": "Warning", "reason": "BackOff", "message": f"m{i}"} for i in range(7)
    ]
    seen = observed(pod(terminated("run", 137, "OOMKilled")), events={"run-r1-a1-abcde": events})
    message = reasons.worker_view(seen, Clock(now=0.0, age_s=5), SETTINGS, 120).view.message
    assert message.startswith("OOMKilled: the container exceeded its memory limit | pod run-r1-a1-abcde conditions:")
    assert message.endswith("recent events: " + "; ".join(f"Warning BackOff: m{i}" for i in range(2, 7)))
