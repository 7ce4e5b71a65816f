"""The kubernetes launcher's run workers against an API server emulator (kmock) over real HTTP.

The test plays the Job controller, scheduler and kubelet by writing pods, statuses and events to the API;
the launcher only ever sees API traffic, through the official client.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.control_plane_client import ControlPlaneClient
from activities.launchers.base import LaunchError, Phase
from activities.launchers.kubernetes import manifests
from activities.launchers.kubernetes.launcher import KubernetesLauncher
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings
from activities.launchers.registry import LauncherRegistry
from activities.run_activities import RunActivities
from contracts.agent import LaunchRunInput, OutcomeKind, WatchRunInput
from contracts.handles import RunWorkerHandle
from contracts.kubernetes import KubernetesOptions, KubernetesRunOverrides, Toleration
from contracts.locations import LocationSpec, Resources
from longshoreman.dev.temporal_server import free_port
from tests.activities.launchers.conftest import CONTROL_PLANE, Tokens
from tests.support.kube import NAMESPACE, Cluster, KubeServer, running, terminated, unschedulable, waiting

ENDED = frozenset({Phase.EXITED, Phase.LOST})
STARTED = frozenset({Phase.RUNNING}) | ENDED
RUN = manifests.WORKER_CONTAINER


async def eventually(check: Callable[[], bool], timeout_s: float = 10) -> None:
    """Wait until `check()` holds (the launcher acts in the background); fail after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def run_input(run_id: str, attempt: int = 1, **changes: object) -> LaunchRunInput:
    spec = LocationSpec(
        name="etl",
        launcher="kubernetes",
        module="jobs.definitions",
        image="etl:1",
        env={"MODE": "test"},
        resources=Resources(cpu=0.5, memory="512Mi"),
        image_pull_policy="always",
        kubernetes=KubernetesOptions(
            service_account="etl-runner",
            node_selector={"pool": "batch"},
            tolerations=[Toleration(key="batch", operator="Exists", effect="NoSchedule")],
            image_pull_secrets=["registry-creds"],
            env_from_secrets=["etl-secrets"],
            env_from_config_maps=["etl-config"],
            annotations={"team": "data"},
        ),
    )
    values: dict[str, object] = {"run_id": run_id, "attempt": attempt, "job": "load", "location": spec}
    return LaunchRunInput.model_validate(values | changes)


async def started_pod(launcher: KubernetesLauncher, cluster: Cluster, run_id: str) -> tuple[RunWorkerHandle, str]:
    """Launch a run and bring its pod to Running; the handle and the pod's name."""
    handle = await launcher.launch_worker(run_input(run_id), Tokens())
    job = cluster.job(handle.name)
    assert job is not None
    pod = cluster.create_pod(job)
    cluster.pod_status(pod, running(RUN))
    view = await launcher.wait_worker(handle, STARTED, 10)
    assert view.phase is Phase.RUNNING and view.started
    return handle, pod


async def test_a_run_attempt_is_one_job_with_the_runs_spec_and_the_token_only_in_its_secret(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    tokens = Tokens()
    request = run_input(unique, max_runtime_s=600, kubernetes=KubernetesRunOverrides(memory="2Gi", labels={"x": "1"}))
    handle = await make_launcher().launch_worker(request, tokens)

    job = cluster.job(handle.name)
    assert job is not None and handle.name == f"run-{unique}-a1" and tokens.calls == 1
    labels = job["metadata"]["labels"]
    assert labels[manifests.RUN_ID] == unique and labels[manifests.ATTEMPT] == "1"
    assert labels[manifests.AGENT] == "agent-a" and labels[manifests.MANAGED_BY] == "longshoreman"
    assert labels[manifests.LOCATION] == "etl" and labels["x"] == "1"
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] == 600
    assert spec["activeDeadlineSeconds"] == 600 + 300  # max runtime + the backstop's slack
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "etl-runner"
    assert pod["nodeSelector"] == {"pool": "batch"} and pod["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert pod["tolerations"] == [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}]
    container = pod["containers"][0]
    assert container["image"] == "etl:1" and container["imagePullPolicy"] == "Always"
    assert container["command"] == ["python", "-m", "longshoreman", "execute-run"]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "2Gi"}  # the run's override wins
    assert container["envFrom"] == [{"secretRef": {"name": "etl-secrets"}}, {"configMapRef": {"name": "etl-config"}}]
    env = {e["name"]: e for e in container["env"]}
    assert env["LONGSHOREMAN_RUN_ID"]["value"] == unique and env["LONGSHOREMAN_RUN_JOB"]["value"] == "load"
    assert env["LONGSHOREMAN_CONTROL_PLANE_URL"]["value"] == CONTROL_PLANE and env["MODE"]["value"] == "test"
    assert env["LONGSHOREMAN_TERMINATION_FILE"]["value"] == "/dev/termination-log"
    assert env["LONGSHOREMAN_RUN_TOKEN"] == {
        "name": "LONGSHOREMAN_RUN_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": handle.name, "key": "LONGSHOREMAN_RUN_TOKEN"}},
    }
    assert "s3cr3t" not in str(job) and "s3cr3t" not in handle.model_dump_json()
    secret = cluster.secret(handle.name)
    assert secret is not None
    assert base64.b64decode(secret["data"]["LONGSHOREMAN_RUN_TOKEN"]).decode() == "run-token-1-s3cr3t"
    owner = secret["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", handle.name, job["metadata"]["uid"])


async def test_a_run_that_exits_0_is_running_then_exited_0(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    launcher = make_launcher()
    handle, pod = await started_pod(launcher, cluster, unique)
    cluster.pod_status(pod, terminated(RUN, 0, "Completed"))
    cluster.job_status(handle.name, {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert (view.phase, view.exit_code, view.started) == (Phase.EXITED, 0, True)


async def test_a_failed_job_reports_its_exit_code_and_termination_message_through_the_activities(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, kube: KubeServer, unique: str
) -> None:
    launcher = make_launcher()
    activities = RunActivities(
        LauncherRegistry({"kubernetes": launcher}), ControlPlaneClient("http://127.0.0.1:9", "-")
    )
    handle = await launcher.launch_worker(run_input(unique), Tokens())
    job = cluster.job(handle.name)
    assert job is not None
    pod = cluster.create_pod(job)
    cluster.pod_status(pod, running(RUN))
    env = ActivityEnvironment()
    started = await env.run(activities.await_run_started, WatchRunInput(handle=handle))
    assert started.running

    kube.serve_log(NAMESPACE, pod, "loading...\nTraceback: ValueError: bad row 7\n")
    cluster.pod_status(pod, terminated(RUN, 1, "Error", "ValueError: bad row 7"))
    outcome = await env.run(activities.supervise_run_worker, WatchRunInput(handle=handle))
    assert outcome.kind is OutcomeKind.EXITED and outcome.exit_code == 1 and not outcome.infrastructure
    assert outcome.reason == "job failed: ValueError: bad row 7 (exit code 1)"
    assert "bad row 7" in outcome.log_tail


async def test_an_oom_killed_run_says_so(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    launcher = make_launcher()
    handle, pod = await started_pod(launcher, cluster, unique)
    cluster.pod_status(pod, terminated(RUN, 137, "OOMKilled"))
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert view.phase is Phase.EXITED and view.oom_killed and view.exit_code == 137
    assert view.message.startswith("OOMKilled: the container exceeded its memory limit")
    assert f"pod {pod} conditions: Ready=False (PodCompleted)" in view.message


async def test_an_evicted_run_is_lost_with_the_nodes_reason_and_events(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    launcher = make_launcher()
    handle, pod = await started_pod(launcher, cluster, unique)
    cluster.event("Pod", pod, "Evicted", "The node was low on resource: memory.")
    evicted = {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}
    cluster.pod_status(pod, evicted)
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert view.phase is Phase.LOST and view.started
    assert view.message.startswith("Evicted: The node was low on resource: memory.")
    assert "recent events: Warning Evicted: The node was low on resource: memory." in view.message


async def test_an_image_that_cannot_be_pulled_fails_fast_and_its_job_is_removed(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    launcher = make_launcher(image_pull_grace_s=0.3)
    handle = await launcher.launch_worker(run_input(unique), Tokens())
    job = cluster.job(handle.name)
    assert job is not None
    pod = cluster.create_pod(job)
    cluster.event("Pod", pod, "Failed", 'Failed to pull image "etl:1": not found')
    cluster.pod_status(pod, waiting(RUN, "ImagePullBackOff", 'Back-off pulling image "etl:1"'))
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert view.phase is Phase.LOST and not view.started
    assert view.message.startswith('image pull failed: ImagePullBackOff: Back-off pulling image "etl:1"')
    assert 'Warning Failed: Failed to pull image "etl:1": not found' in view.message
    # Nothing else would ever remove a pod stuck pulling: the launcher did, and keeps the reason.
    await eventually(lambda: cluster.job(handle.name) is None and cluster.pod(pod) is None)
    assert (await launcher.worker_state(handle)).message == view.message


async def test_a_missing_config_secret_is_a_container_config_error(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    launcher = make_launcher()
    handle = await launcher.launch_worker(run_input(unique), Tokens())
    job = cluster.job(handle.name)
    assert job is not None
    pod = cluster.create_pod(job)
    cluster.pod_status(pod, waiting(RUN, "CreateContainerConfigError", 'secret "etl-secrets" not found'))
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert view.phase is Phase.LOST
    assert view.message.startswith('container cannot be created: CreateContainerConfigError: secret "etl-secrets"')


async def test_a_run_unschedulable_past_its_start_timeout_is_lost_with_the_schedulers_reason(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    launcher = make_launcher(worker_start_timeout_s=0.5)
    handle = await launcher.launch_worker(run_input(unique), Tokens())
    job = cluster.job(handle.name)
    assert job is not None
    pod = cluster.create_pod(job)
    reason = "0/3 nodes are available: 3 Insufficient memory."
    cluster.event("Pod", pod, "FailedScheduling", reason)
    cluster.pod_status(pod, unschedulable(reason))
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert view.phase is Phase.LOST and not view.started
    assert view.message.startswith("Unschedulable for ") and "(start timeout 1 s): " + reason in view.message
    assert f"PodScheduled=False (Unschedulable: {reason})" in view.message
    assert f"recent events: Warning FailedScheduling: {reason}" in view.message


async def test_a_run_whose_pod_vanishes_is_lost(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    launcher = make_launcher()
    handle, pod = await started_pod(launcher, cluster, unique)
    cluster.delete_pod(pod)
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert view.phase is Phase.LOST and view.started
    assert view.message.startswith("the Job's pod vanished (deleted, or its node went away) and was not replaced")


async def test_cancel_deletes_the_pod_job_and_token_and_refuses_a_later_launch_of_the_attempt(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, kube: KubeServer, unique: str
) -> None:
    launcher = make_launcher()
    handle, pod = await started_pod(launcher, cluster, unique)
    result = await launcher.stop_worker(unique, 1, 5)
    assert result.stopped and result.detail == "deleted the Job"
    assert cluster.job(handle.name) is None and cluster.pod(pod) is None
    assert cluster.secret(handle.name) is None
    # kmock deletes at once; what a real cluster acts on is in the requests: the grace period and propagation.
    deletes = {c.path.rsplit("/", 2)[-2]: c.params for c in kube.calls() if c.method == "DELETE"}
    assert deletes["pods"] == {"gracePeriodSeconds": "5"}
    assert deletes["jobs"] == {"gracePeriodSeconds": "5", "propagationPolicy": "Background"}
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert view.phase is Phase.LOST
    # A launch activity retried after the cancel must not start the attempt again.
    tokens = Tokens()
    with pytest.raises(LaunchError, match="stopped before it started") as refused:
        await make_launcher().launch_worker(run_input(unique), tokens)
    assert refused.value.final and tokens.calls == 0 and cluster.job(handle.name) is None
    assert (await launcher.stop_worker(unique, 1, 5)).stopped is False  # idempotent: nothing left


@pytest.mark.parametrize(("code", "reason"), [(0, "Completed"), (1, "Error")])
async def test_a_cancel_that_finds_the_run_ended_says_how_it_ended(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str, code: int, reason: str
) -> None:
    # A cancel racing the job's end: the workflow keeps the job's own outcome when the stop says it had exited.
    launcher = make_launcher()
    handle, pod = await started_pod(launcher, cluster, unique)
    cluster.pod_status(pod, terminated(RUN, code, reason))
    assert (await launcher.wait_worker(handle, ENDED, 10)).exit_code == code
    result = await launcher.stop_worker(unique, 1, 5)
    assert (result.stopped, result.exit_code, result.signal) == (True, code, None)


async def test_an_agent_restart_adopts_the_job_without_a_second_one_or_a_new_token(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, kube: KubeServer, unique: str
) -> None:
    first = make_launcher()
    handle, pod = await started_pod(first, cluster, unique)
    await first.aclose()

    tokens = Tokens()
    again = await make_launcher().launch_worker(run_input(unique), tokens)  # a new agent retries the launch
    assert again.name == handle.name and again.launched_at == handle.launched_at
    assert tokens.calls == 0
    creates = [c for c in kube.calls() if c.method == "POST" and c.path.endswith("/jobs")]
    assert len(creates) == 1
    restarted = make_launcher()
    view = await restarted.wait_worker(again, STARTED, 10)  # rebuilt from a list call
    assert view.phase is Phase.RUNNING
    cluster.pod_status(pod, terminated(RUN, 2, "Error", "cannot import jobs.definitions"))
    view = await restarted.wait_worker(again, ENDED, 10)
    assert (view.phase, view.exit_code, view.message) == (Phase.EXITED, 2, "cannot import jobs.definitions")


async def test_a_job_created_by_another_agent_in_between_is_adopted_on_409(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, kube: KubeServer, unique: str
) -> None:
    # Another replica creates the Job between our existence check and our create: the create answers 409.
    name = f"run-{unique}-a1"
    other = await make_launcher().launch_worker(run_input(unique), Tokens())
    launcher = make_launcher()
    kube.answer_once(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}", 404)
    handle = await launcher.launch_worker(run_input(unique), Tokens())
    assert handle.name == other.name and handle.launched_at == other.launched_at
    conflicts = [c for c in kube.calls() if c.method == "POST" and c.path.endswith("/jobs")]
    assert len(conflicts) == 2 and cluster.job(name) is not None


async def test_a_namespace_the_agent_does_not_watch_is_refused_for_good(
    make_launcher: Callable[..., KubernetesLauncher], unique: str
) -> None:
    request = run_input(unique)
    request.location.kubernetes.namespace = "elsewhere"
    with pytest.raises(LaunchError, match="namespace 'elsewhere' is not one this agent watches") as refused:
        await make_launcher().launch_worker(request, Tokens())
    assert refused.value.final


async def test_a_locations_secret_env_goes_into_the_runs_secret_never_into_the_job(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, unique: str
) -> None:
    request = run_input(unique)
    request.location = request.location.model_copy(update={"secret_env": {"DB_PASSWORD": "pw-s3cr3t"}})

    handle = await make_launcher().launch_worker(request, Tokens())

    job = cluster.job(handle.name)
    assert job is not None and "pw-s3cr3t" not in str(job)
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": handle.name, "key": "DB_PASSWORD"}},
    }
    secret = cluster.secret(handle.name)
    assert secret is not None and base64.b64decode(secret["data"]["DB_PASSWORD"]).decode() == "pw-s3cr3t"


async def test_an_api_that_never_answers_fails_the_launch_after_sync_timeout_s(unique: str) -> None:
    settings = KubernetesLauncherSettings(
        api_url=f"http://127.0.0.1:{free_port()}", namespace=NAMESPACE, agent_name="agent-a", sync_timeout_s=0.5
    )
    launcher = KubernetesLauncher(settings, control_plane_url=CONTROL_PLANE)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ApplicationError) as raised:
            await launcher.launch_worker(run_input(unique), Tokens())
        waited = loop.time() - started
    finally:
        await launcher.aclose()

    assert raised.value.type == "KubernetesUnavailable" and not raised.value.non_retryable
    assert "has not answered the launcher's watches within 0.5 s" in raised.value.message
    assert 0.4 <= waited < 5, waited
