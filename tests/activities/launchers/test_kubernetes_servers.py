"""The kubernetes launcher's code servers (Deployment + Service) against an API server emulator over real HTTP."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.launchers.base import Phase, ProcessView
from activities.launchers.kubernetes import manifests
from activities.launchers.kubernetes.launcher import KubernetesLauncher
from activities.launchers.registry import LauncherRegistry
from activities.location_activities import LocationActivities
from contracts.agent import LaunchServerInput, ProbeInput
from contracts.handles import CodeServerHandle
from contracts.kubernetes import KubernetesOptions
from contracts.locations import LocationSpec, Resources
from tests.support.kube import Cluster, KubeServer, container, running, waiting

ENDED = frozenset({Phase.EXITED, Phase.LOST})
UP = frozenset({Phase.RUNNING}) | ENDED
SERVER = manifests.SERVER_CONTAINER


def location(name: str = "sales", port: int = 4000, **changes: object) -> LocationSpec:
    values: dict[str, object] = {
        "name": name,
        "launcher": "kubernetes",
        "module": "sales.definitions",
        "image": "sales:3",
        "port": port,
        "env": {"REGION": "eu"},
        "resources": Resources(cpu=1, memory="1g"),
        "kubernetes": KubernetesOptions(replicas=2, labels={"team": "sales"}, annotations={"a": "b"}),
    }
    return LocationSpec.model_validate(values | changes)


async def test_a_code_server_is_a_deployment_and_a_service_with_the_locations_spec(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster
) -> None:
    handle = await make_launcher().launch_server(location(), 3, 7)
    assert handle.name == "sales-g3-i7" and handle.url == "http://sales-g3-i7.runs:4000"

    deployment = cluster.deployment(handle.name)
    assert deployment is not None
    labels = deployment["metadata"]["labels"]
    assert labels[manifests.LOCATION] == "sales" and labels[manifests.GENERATION] == "3"
    assert labels[manifests.INSTANCE] == "7" and labels[manifests.AGENT] == "agent-a" and labels["team"] == "sales"
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"] == {
        manifests.MANAGED_BY: "longshoreman",
        manifests.AGENT: "agent-a",
        manifests.NAME: "sales-g3-i7",
    }
    template = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["annotations"] == {"a": "b"}
    pod = template["spec"]
    assert pod["restartPolicy"] == "Always" and pod["automountServiceAccountToken"] is False
    server = pod["containers"][0]
    assert server["image"] == "sales:3" and server["imagePullPolicy"] == "IfNotPresent"
    assert server["command"] == [
        "python", "-m", "longshoreman", "code-server", "--module", "sales.definitions", "--port", "4000",
        "--host", "0.0.0.0",
    ]  # fmt: skip
    assert server["ports"] == [{"name": "http", "containerPort": 4000, "protocol": "TCP"}]
    assert server["readinessProbe"]["httpGet"] == {"path": "/health", "port": 4000}
    assert server["resources"]["limits"] == {"cpu": "1", "memory": "1G"}
    assert {"name": "REGION", "value": "eu"} in server["env"]

    service = cluster.service(handle.name)
    assert service is not None
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 4000, "targetPort": 4000, "protocol": "TCP"}]


async def test_a_server_is_running_once_a_pod_is_ready_and_exits_with_the_reason_of_its_crash_loop(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster
) -> None:
    launcher = make_launcher()
    handle = await launcher.launch_server(location(), 1, 1)
    deployment = cluster.deployment(handle.name)
    assert deployment is not None
    pod = cluster.create_pod(deployment)
    cluster.pod_status(pod, waiting(SERVER, "ContainerCreating", ""))
    view = await launcher.wait_server_end(handle, 0.3)
    assert view.phase is Phase.PENDING

    cluster.pod_status(pod, running(SERVER))
    assert (await _wait_until(launcher, handle, frozenset({Phase.RUNNING}))).phase is Phase.RUNNING

    crashed = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-01-01T00:00:00Z"}}
    crash_loop = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}}
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "containerStatuses": [container(SERVER, state=crash_loop, lastState=crashed, restartCount=1)],
    }
    cluster.pod_status(pod, status)
    view = await launcher.wait_server_end(handle, 10)
    assert view.phase is Phase.EXITED and view.oom_killed and view.exit_code == 137
    assert "OOMKilled" in view.message and f"pod {pod} conditions: Ready=False" in view.message


async def test_a_deployment_deleted_behind_the_agents_back_is_lost(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster
) -> None:
    launcher = make_launcher()
    handle = await launcher.launch_server(location(), 1, 1)
    cluster.deployment_status(handle.name, {"readyReplicas": 1})
    assert (await _wait_until(launcher, handle, frozenset({Phase.RUNNING}))).phase is Phase.RUNNING
    cluster.delete_deployment(handle.name)
    view = await launcher.wait_server_end(handle, 10)
    assert view.phase is Phase.LOST and view.message == "the Deployment no longer exists"


async def test_a_server_whose_pods_vanish_and_are_not_replaced_is_lost(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster
) -> None:
    launcher = make_launcher()
    handle = await launcher.launch_server(location(), 1, 1)
    deployment = cluster.deployment(handle.name)
    assert deployment is not None
    pod = cluster.create_pod(deployment)
    cluster.pod_status(pod, running(SERVER))
    assert (await _wait_until(launcher, handle, frozenset({Phase.RUNNING}))).phase is Phase.RUNNING
    cluster.event("ReplicaSet", handle.name, "FailedCreate", 'pods "sales" is forbidden: exceeded quota')
    cluster.delete_pod(pod)
    view = await launcher.wait_server_end(handle, 10)
    assert view.phase is Phase.LOST
    assert view.message.startswith("every pod of the Deployment vanished and none came back within 0.5 s")


async def test_redeploy_runs_two_generations_side_by_side_and_stopping_the_old_removes_only_it(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, kube: KubeServer
) -> None:
    launcher = make_launcher()
    old = await launcher.launch_server(location(), 1, 1)
    new = await launcher.launch_server(location(env={"REGION": "us"}), 2, 2)
    assert cluster.deployment(old.name) is not None and cluster.deployment(new.name) is not None

    result = await launcher.stop_server(old, 5)
    assert result.stopped and result.detail == "deleted the Deployment and Service"
    assert cluster.deployment(old.name) is None and cluster.service(old.name) is None
    deleted = [c.params for c in kube.calls() if c.method == "DELETE" and c.path.endswith(f"/deployments/{old.name}")]
    assert deleted == [{"gracePeriodSeconds": "5", "propagationPolicy": "Foreground"}]  # pods go before it does
    assert cluster.deployment(new.name) is not None and cluster.service(new.name) is not None
    assert (await launcher.stop_server(old, 5)).detail == "already gone"  # idempotent
    await launcher.stop_server(new, 5)
    assert cluster.deployment(new.name) is None and cluster.service(new.name) is None


async def test_a_server_that_exists_already_is_adopted_on_409(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, kube: KubeServer
) -> None:
    first = await make_launcher().launch_server(location(), 1, 1)
    again = await make_launcher().launch_server(location(), 1, 1)  # a retried activity on another agent
    assert again == first
    creates = [c for c in kube.calls() if c.method == "POST" and c.path.endswith("/deployments")]
    assert len(creates) == 2  # the second answered 409 Conflict and the Deployment was adopted


async def test_a_location_comes_up_and_fails_through_the_location_activities(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster, stand_in: int
) -> None:
    # No cluster network here: the agent reaches the "Service" at a local stand-in of the ready pod.
    launcher = make_launcher(server_url_template="http://127.0.0.1:{port}")
    activities = LocationActivities(LauncherRegistry({"kubernetes": launcher}))
    env = ActivityEnvironment()
    spec = location(port=stand_in)
    handle = await env.run(activities.launch_code_server, LaunchServerInput(spec=spec, generation=1, instance=1))
    assert handle.url == f"http://127.0.0.1:{stand_in}"
    healthy = await env.run(activities.await_healthy, ProbeInput(handle=handle, timeout_s=10))
    assert healthy.healthy
    definitions = await env.run(activities.fetch_definitions, handle)
    assert [job.name for job in definitions.jobs] == ["daily"]

    # Generation 2's image cannot be pulled (and nothing answers on its port).
    spec = location(port=9)
    broken = await env.run(activities.launch_code_server, LaunchServerInput(spec=spec, generation=2, instance=2))
    deployment = cluster.deployment(broken.name)
    assert deployment is not None
    pod = cluster.create_pod(deployment)
    cluster.pod_status(pod, waiting(SERVER, "ErrImagePull", 'pull access denied for "sales:3"'))
    with pytest.raises(ApplicationError, match="image pull failed: ErrImagePull: pull access denied") as failed:
        await env.run(activities.await_healthy, ProbeInput(handle=broken, timeout_s=10))
    assert failed.value.type == "LaunchError"  # final: the location halts until a redeploy fixes the image
    await activities.aclose()


async def test_a_location_without_an_image_fails_its_launch_for_good(
    make_launcher: Callable[..., KubernetesLauncher],
) -> None:
    activities = LocationActivities(LauncherRegistry({"kubernetes": make_launcher()}))
    request = LaunchServerInput(spec=location(image=None), generation=1, instance=1)
    with pytest.raises(ApplicationError, match="needs a container image") as failed:
        await ActivityEnvironment().run(activities.launch_code_server, request)
    assert failed.value.non_retryable and failed.value.type == "LaunchError"
    await activities.aclose()


async def _wait_until(launcher: KubernetesLauncher, handle: CodeServerHandle, phases: frozenset[Phase]) -> ProcessView:
    """The server's view once in `phases` (servers have no wait-for-phase call: poll the cheap state)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        view = await launcher.server_state(handle)
        if view.phase in phases or loop.time() > deadline:
            return view
        await asyncio.sleep(0.02)


async def test_a_servers_secret_env_lives_in_a_secret_of_its_own_removed_with_the_server(
    make_launcher: Callable[..., KubernetesLauncher], cluster: Cluster
) -> None:
    launcher = make_launcher()
    handle = await launcher.launch_server(location(secret_env={"API_KEY": "k3y-s3cr3t"}), 1, 1)

    deployment = cluster.deployment(handle.name)
    assert deployment is not None and "k3y-s3cr3t" not in str(deployment)
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": handle.name, "key": "API_KEY"}}
    secret = cluster.secret(handle.name)
    assert secret is not None and base64.b64decode(secret["data"]["API_KEY"]).decode() == "k3y-s3cr3t"

    await launcher.stop_server(handle, 1)
    assert cluster.secret(handle.name) is None
