"""deploy/ecs: the IAM example policy grants exactly what the ecs launcher calls, and the agent's task
definition is valid agent settings.

"What the launcher calls" is what its own clients count (EcsApi.calls, by IAM action) while it goes through
every one of its operations against moto: launch, adopt, cancel (before and after the launch), the release
of a finished attempt, code servers by private address and by Cloud Map name, and the stop-marker sweep.
A call the policy lacks would fail in AWS; a grant the launcher never uses is privilege it should not have.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from activities.launchers.base import Phase
from activities.launchers.ecs import definitions
from activities.launchers.ecs.launcher import EcsLauncher
from agent.settings import AgentSettings
from tests.activities.launchers.conftest import Tokens
from tests.activities.launchers.test_ecs_runs import run_input
from tests.activities.launchers.test_ecs_servers import location
from tests.support.aws import EcsHand

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "ecs"
# Permissions a call needs besides its own action: tags given on create, roles handed to ECS.
IMPLIED = {"ecs:TagResource", "iam:PassRole"}


def granted(name: str) -> set[str]:
    policy = json.loads((DEPLOY / name).read_text())
    return {action for statement in policy["Statement"] for action in statement["Action"]}


async def every_operation(make: Callable[..., EcsLauncher], ecs: EcsHand, unique: str) -> Counter[str]:
    calls: Counter[str] = Counter()
    launcher = make()
    handle = await launcher.launch_worker(run_input(unique), Tokens())
    dead = make()
    await dead.launch_worker(run_input(unique), Tokens())  # adopts through the cache
    await dead.aclose()
    ecs.exits_on_stop(str(handle.ref["task"]), 143)
    await launcher.stop_worker(unique, 1, 5)
    await launcher.stop_worker(unique, 2, 5)  # before its launch: a marker
    with pytest.raises(Exception, match="stopped before it started"):
        await launcher.launch_worker(run_input(unique, attempt=2), Tokens())
    gone = make()
    other = await gone.launch_worker(run_input(unique, attempt=3), Tokens())
    await gone.aclose()
    ecs.stopped(str(other.ref["task"]), exit_code=0)
    late = make()
    await late.launch_worker(run_input(unique, attempt=3), Tokens())  # finished, nobody watching: ListTasks
    finished = await launcher.launch_worker(run_input(unique, attempt=3), Tokens())  # watched: released
    await launcher.wait_worker(finished, frozenset({Phase.EXITED}), 10)
    await late.aclose()

    spec = location()
    serving = asyncio.ensure_future(launcher.launch_server(spec, 1, 1))
    await _schedule(ecs, "agent-a-sales-g1-i1")
    server = await asyncio.wait_for(serving, 10)
    stopping = asyncio.ensure_future(launcher.stop_server(server, 2))
    await asyncio.sleep(0.3)
    ecs.stopped(str(server.ref["task"]), exit_code=0, stop_code="ServiceSchedulerInitiated")
    await asyncio.wait_for(stopping, 30)

    namespace = ecs.moto.client("servicediscovery").create_private_dns_namespace(Name="ls.local", Vpc=ecs.network.vpc)
    operation = ecs.moto.client("servicediscovery").get_operation(OperationId=namespace["OperationId"])
    namespace_id = operation["Operation"]["Targets"]["NAMESPACE"]
    mapped = make(server_access="cloud-map", cloud_map_namespace_id=namespace_id, cloud_map_namespace="ls.local")
    named = await mapped.launch_server(spec, 2, 1)
    assert named.url == "http://agent-a-sales-g2-i1.ls.local:4000"
    await mapped.stop_server(named, 2)
    await asyncio.sleep(0.3)  # the Cloud Map service goes in the background
    assert await launcher.secrets.sweep_stop_markers(0) >= 1
    for one in (launcher, dead, gone, late, mapped):
        calls.update(one.api.calls)
    return calls


async def _schedule(ecs: EcsHand, service: str) -> None:
    for _ in range(200):
        if ecs.service(service) is not None:
            break
        await asyncio.sleep(0.02)
    ecs.running(ecs.start_service_task(service))


async def test_the_policy_grants_exactly_the_calls_the_launcher_makes(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, unique: str
) -> None:
    calls = await every_operation(make_ecs_launcher, ecs, unique)
    made = set(calls)
    assert made | IMPLIED == granted("iam-policy.json"), (made | IMPLIED) ^ granted("iam-policy.json")


def test_the_execution_role_may_read_the_secrets_the_launcher_references() -> None:
    policy = json.loads((DEPLOY / "execution-role-policy.json").read_text())
    [read] = [s for s in policy["Statement"] if "secretsmanager:GetSecretValue" in s["Action"]]
    assert read["Resource"].endswith(":secret:" + definitions.secret_name("AGENT", "*"))


def test_the_agents_task_definition_is_valid_agent_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # The placeholders filled in as an operator would (ACCOUNT must be a 12-digit account id).
    task = json.loads((DEPLOY / "agent-task-definition.json").read_text().replace("ACCOUNT", "123456789012"))
    [agent] = task["containerDefinitions"]
    assert agent["command"] == ["python", "-m", "agent"]
    for variable in agent["environment"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    for secret in agent["secrets"]:  # read by ECS from Secrets Manager at start
        assert secret["name"] in ("LONGSHOREMAN_AGENT_TOKEN", "LONGSHOREMAN_ENCRYPTION_KEYS")
    monkeypatch.setenv("LONGSHOREMAN_PLAINTEXT_PAYLOADS", "true")
    settings = AgentSettings()
    assert settings.launchers == ["ecs"] and settings.ecs.cluster == "CLUSTER"
    assert settings.ecs.subnets == ["subnet-PRIVATE-A", "subnet-PRIVATE-B"]
