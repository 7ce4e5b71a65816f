"""The ecs launcher's code servers (one ECS service per instance) against moto in server mode over real HTTP.

moto's services start no tasks: the test plays the service scheduler (tests/support/aws.py). The server the
agent probes is a stand-in on loopback: the test gives the service's task that address, as ECS gives a task
its ENI's private address.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from temporalio.testing import ActivityEnvironment

from activities.launchers.base import Phase
from activities.launchers.ecs import definitions
from activities.launchers.ecs.launcher import EcsLauncher
from activities.launchers.ecs.settings import EcsLauncherSettings
from activities.launchers.registry import LauncherRegistry
from activities.location_activities import LocationActivities
from contracts.agent import ProbeInput
from contracts.ecs import EcsOptions
from contracts.locations import LocationSpec, Resources
from tests.support.aws import EcsHand

ENDED = frozenset({Phase.EXITED, Phase.LOST})


def location(port: int = 4000, **changes: object) -> LocationSpec:
    values: dict[str, object] = {
        "name": "sales",
        "launcher": "ecs",
        "module": "sales.definitions",
        "image": "sales:3",
        "port": port,
        "env": {"REGION": "eu"},
        "secret_env": {"DB_PASSWORD": "pa55word"},
        "resources": Resources(cpu=1, memory="2g"),
        "startup_timeout_s": 10,
        "ecs": EcsOptions(tags={"team": "sales"}),
    }
    return LocationSpec.model_validate(values | changes)


async def scheduled(ecs: EcsHand, service: str, ip: str = "127.0.0.1") -> str:
    """Play the service scheduler once the service exists: its task, running at `ip`."""
    for _ in range(200):
        if ecs.service(service) is not None:
            break
        await asyncio.sleep(0.02)
    arn = ecs.start_service_task(service)
    ecs.running(arn, ip=ip)
    return arn


async def test_a_code_server_is_a_service_of_one_task_reached_at_its_private_address(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, stand_in: int
) -> None:
    launcher = make_ecs_launcher()
    service_name = "agent-a-sales-g3-i7"
    launch = asyncio.ensure_future(launcher.launch_server(location(port=stand_in), 3, 7))
    arn = await scheduled(ecs, service_name)
    handle = await asyncio.wait_for(launch, 10)
    assert handle.name == "sales-g3-i7" and handle.url == f"http://127.0.0.1:{stand_in}"
    assert handle.ref["task"] == arn

    service = ecs.service(service_name)
    assert service is not None and service["desiredCount"] == 1
    assert service["launchType"] == "FARGATE"
    definition = ecs.task_definition(service["taskDefinition"])
    assert definition["family"] == "longshoreman-agent-a-server" and (definition["cpu"], definition["memory"]) == (
        "1024",
        "2048",
    )
    container = definition["containerDefinitions"][0]
    assert container["portMappings"] == [{"containerPort": stand_in, "protocol": "tcp"}]
    assert container["command"][:4] == ["python", "-m", "longshoreman", "code-server"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["REGION"] == "eu" and "DB_PASSWORD" not in env and "pa55word" not in json.dumps(definition)
    [secret] = container["secrets"]
    assert secret["name"] == "DB_PASSWORD" and json.loads(
        ecs.secret(secret["valueFrom"].removesuffix(":DB_PASSWORD::"))
    )

    # The location workflow's activities: healthy, definitions, supervision sees the task stop.
    activities = LocationActivities(LauncherRegistry({"ecs": launcher}))
    env_ = ActivityEnvironment()
    probe = ProbeInput(handle=handle, timeout_s=10)
    assert (await env_.run(activities.await_healthy, probe)).healthy
    assert [j.name for j in (await env_.run(activities.fetch_definitions, handle)).jobs] == ["daily"]
    supervise = asyncio.ensure_future(env_.run(activities.supervise_code_server, probe))
    await asyncio.sleep(0.3)
    assert not supervise.done()
    ecs.stopped(arn, exit_code=1, reason="Essential container in task exited")
    exit_ = await asyncio.wait_for(supervise, 10)
    assert exit_.reason == "code server exited with code 1"
    await activities.aclose()


async def test_a_retried_launch_adopts_the_service_and_a_stop_scales_it_to_zero_then_deletes_it(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, stand_in: int
) -> None:
    launcher = make_ecs_launcher()
    spec = location(port=stand_in)
    launch = asyncio.ensure_future(launcher.launch_server(spec, 1, 1))
    arn = await scheduled(ecs, "agent-a-sales-g1-i1")
    first = await asyncio.wait_for(launch, 10)
    again = await make_ecs_launcher().launch_server(spec, 1, 1)  # another agent: adopts, creates nothing
    assert again.url == first.url and again.ref["task"] == arn
    assert launcher.api.calls["ecs:CreateService"] == 1

    stopping = asyncio.ensure_future(launcher.stop_server(first, 5))
    for _ in range(200):
        if ecs.desired_stopped_service("agent-a-sales-g1-i1"):
            break
        await asyncio.sleep(0.02)
    ecs.stopped(arn, exit_code=0, stop_code="ServiceSchedulerInitiated", reason="Scaling activity initiated")
    result = await asyncio.wait_for(stopping, 20)
    assert result.stopped and result.detail == "scaled to 0 and deleted the service"
    assert ecs.service("agent-a-sales-g1-i1") is None
    assert not ecs.secrets.list_secrets(Filters=[{"Key": "name", "Values": ["longshoreman/agent-a/sales-g1-i1"]}])[
        "SecretList"
    ]
    view = await launcher.server_state(first)
    assert view.phase in ENDED
    assert (await launcher.stop_server(first, 5)).detail == "already gone"


async def test_a_server_task_that_cannot_pull_its_image_is_a_final_failure(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand
) -> None:
    launcher = make_ecs_launcher()
    launch = asyncio.ensure_future(launcher.launch_server(location(), 2, 1))
    for _ in range(200):
        if ecs.service("agent-a-sales-g2-i1") is not None:
            break
        await asyncio.sleep(0.02)
    arn = ecs.start_service_task("agent-a-sales-g2-i1")
    reason = "CannotPullContainerError: pull access denied for sales, repository does not exist"
    ecs.stopped(arn, exit_code=None, stop_code="TaskFailedToStart", reason=reason)
    handle = await asyncio.wait_for(launch, 10)
    view = await launcher.server_state(handle)
    assert view.phase is Phase.LOST and view.final and reason in view.message
    assert definitions.tag_map(ecs.tasks()[0]["tags"])[definitions.LOCATION] == "sales"


def test_a_capacity_provider_replaces_the_launch_type() -> None:
    settings = EcsLauncherSettings(agent_name="a", control_plane_url="http://cp")
    assert definitions.placement(EcsOptions(), settings) == {"launchType": "FARGATE"}
    spot = definitions.placement(EcsOptions(capacity_provider="FARGATE_SPOT"), settings)
    assert spot == {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    assert "requiresCompatibilities" not in definitions.server_task_definition(
        location(ecs=EcsOptions(capacity_provider="FARGATE_SPOT")), "x", {}, None, settings
    )
