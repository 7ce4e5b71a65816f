"""The ecs launcher's run workers against moto in server mode over real HTTP (boto3 with an endpoint URL).

The test plays ECS's container agent by writing task states on moto's model (tests/support/aws.py); the
launcher only ever sees ECS and Secrets Manager API traffic, through boto3.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.control_plane_client import ControlPlaneClient
from activities.launchers.base import LaunchError, Phase
from activities.launchers.ecs import definitions
from activities.launchers.ecs.launcher import EcsLauncher
from activities.launchers.orphans import OrphanSweeper
from activities.launchers.owners import TemporalOwners
from activities.launchers.registry import LauncherRegistry
from activities.run_activities import RunActivities
from contracts.agent import LaunchRunInput, OutcomeKind, RunOutcome, WatchRunInput
from contracts.ecs import EcsOptions, EcsSecret
from contracts.handles import RunWorkerHandle
from contracts.locations import LocationSpec, Resources
from tests.activities.launchers.conftest import CONTROL_PLANE, Tokens
from tests.support.aws import EcsHand

ENDED = frozenset({Phase.EXITED, Phase.LOST})
STARTED = frozenset({Phase.RUNNING}) | ENDED
DB_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sales-db-AbCdEf"


def run_input(run_id: str, attempt: int = 1, **changes: object) -> LaunchRunInput:
    spec = LocationSpec(
        name="etl",
        launcher="ecs",
        module="jobs.definitions",
        image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/etl:1",
        env={"MODE": "test"},
        secret_env={"API_KEY": "k3y-v4lue"},
        resources=Resources(cpu=0.5, memory="1Gi"),
        ecs=EcsOptions(
            task_role_arn="arn:aws:iam::123456789012:role/etl",
            secrets=[EcsSecret(name="DB_PASSWORD", value_from=DB_SECRET)],
            tags={"team": "data"},
        ),
    )
    values: dict[str, object] = {"run_id": run_id, "attempt": attempt, "job": "load", "location": spec}
    return LaunchRunInput.model_validate(values | changes)


async def running_task(launcher: EcsLauncher, ecs: EcsHand, run_id: str) -> tuple[RunWorkerHandle, str]:
    """Launch a run and bring its task to RUNNING; the handle and the task's ARN."""
    handle = await launcher.launch_worker(run_input(run_id), Tokens())
    arn = str(handle.ref["task"])
    ecs.running(arn)
    view = await launcher.wait_worker(handle, STARTED, 10)
    assert view.phase is Phase.RUNNING and view.started
    return handle, arn


async def test_a_run_attempt_is_one_task_and_its_token_is_only_a_reference(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, unique: str
) -> None:
    tokens = Tokens()
    handle = await make_ecs_launcher(log_group="/longshoreman/runs").launch_worker(run_input(unique), tokens)
    assert handle.name == f"run-{unique}-a1" and handle.launcher == "ecs" and tokens.calls == 1

    [task] = ecs.tasks(started_by=handle.name)
    tags = definitions.tag_map(task["tags"])
    assert tags[definitions.RUN_ID] == unique and tags[definitions.ATTEMPT] == "1" and tags["team"] == "data"
    assert tags[definitions.AGENT] == "agent-a" and tags[definitions.LOCATION] == "etl"
    assert task["launchType"] == "FARGATE" and task["startedBy"] == handle.name
    definition = ecs.task_definition(task["taskDefinitionArn"])
    assert definition["family"] == "longshoreman-agent-a-worker" and definition["networkMode"] == "awsvpc"
    assert (definition["cpu"], definition["memory"]) == ("512", "1024")
    assert definition["taskRoleArn"] == "arn:aws:iam::123456789012:role/etl"
    assert definition["executionRoleArn"] == "arn:aws:iam::123456789012:role/ecs-execution"
    container = definition["containerDefinitions"][0]
    assert container["command"] == ["python", "-m", "longshoreman", "execute-run"]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/longshoreman/runs",
            "awslogs-region": "eu-west-1",
            "awslogs-stream-prefix": "agent-a",
        },
    }
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["LONGSHOREMAN_RUN_ID"] == unique and env["LONGSHOREMAN_RUN_JOB"] == "load" and env["MODE"] == "test"
    assert env["LONGSHOREMAN_CONTROL_PLANE_URL"] == CONTROL_PLANE
    assert "LONGSHOREMAN_RUN_TOKEN" not in env and "API_KEY" not in env
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    secret_arn = secrets["LONGSHOREMAN_RUN_TOKEN"].removesuffix(":LONGSHOREMAN_RUN_TOKEN::")
    assert secrets["API_KEY"] == f"{secret_arn}:API_KEY::" and secrets["DB_PASSWORD"] == DB_SECRET
    # What ECS resolves with the execution role when the task starts:
    assert json.loads(ecs.secret(secret_arn)) == {
        "API_KEY": "k3y-v4lue",
        "LONGSHOREMAN_RUN_TOKEN": "run-token-1-s3cr3t",
    }
    # ...and what anyone with describe-task-definition or describe-tasks sees: no value.
    for seen in (definition, task, handle.model_dump()):
        assert "s3cr3t" not in json.dumps(seen, default=str) and "k3y-v4lue" not in json.dumps(seen, default=str)


async def test_a_retried_launch_adopts_the_task_even_on_a_restarted_agent(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, unique: str
) -> None:
    tokens = Tokens()
    first_agent = make_ecs_launcher()
    first = await first_agent.launch_worker(run_input(unique), tokens)
    await first_agent.aclose()  # the agent dies with its task running
    second_agent = make_ecs_launcher()
    again = await second_agent.launch_worker(run_input(unique), tokens)  # a fresh agent: nothing in memory
    assert again.ref["task"] == first.ref["task"] and tokens.calls == 1
    await second_agent.aclose()
    other = make_ecs_launcher()
    ecs.stopped(str(first.ref["task"]), exit_code=0)
    # Finished before the retry came (nobody was watching it): found among the stopped tasks, still adopted.
    later = await other.launch_worker(run_input(unique), tokens)
    assert later.ref["task"] == first.ref["task"] and len(ecs.tasks(started_by=first.name)) == 1


async def test_a_run_that_exits_0_is_pending_running_then_exited_0_and_its_resources_go(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, unique: str
) -> None:
    launcher = make_ecs_launcher()
    handle = await launcher.launch_worker(run_input(unique), Tokens())
    arn = str(handle.ref["task"])
    ecs.pending(arn)
    assert (await launcher.wait_worker(handle, frozenset({Phase.PENDING}), 10)).phase is Phase.PENDING
    ecs.running(arn)
    assert (await launcher.wait_worker(handle, STARTED, 10)).phase is Phase.RUNNING
    ecs.stopped(arn, exit_code=0)
    view = await launcher.wait_worker(handle, ENDED, 10)
    assert (view.phase, view.exit_code, view.started) == (Phase.EXITED, 0, True)
    secret = definitions.secret_name("agent-a", handle.name)
    for _ in range(100):  # released in the background once ECS reports the task stopped
        if not ecs.secrets.list_secrets(Filters=[{"Key": "name", "Values": [secret]}])["SecretList"]:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the attempt's secret was not deleted after its task stopped")
    assert ecs.task_definition(ecs.tasks(started_by=handle.name)[0]["taskDefinitionArn"])["status"] == "INACTIVE"


@pytest.mark.parametrize(
    ("stopped", "reason", "infrastructure"),
    [
        (
            {"exit_code": 1},
            "job failed: see the run logs (exit code 1)",
            False,
        ),
        (
            {"exit_code": 137, "container_reason": "OutOfMemoryError: Container killed due to memory usage"},
            "run worker was killed: out of memory (OOMKilled): OutOfMemoryError: Container killed due to memory usage",
            True,
        ),
        (
            {"exit_code": 137, "stop_code": "SpotInterruption", "reason": "Your Spot Task was interrupted."},
            "run worker was killed by signal SIGKILL: SpotInterruption: Your Spot Task was interrupted.",
            True,
        ),
    ],
    ids=["job-failed", "oom", "spot"],
)
async def test_how_a_task_stopped_becomes_the_runs_reason(
    make_ecs_launcher: Callable[..., EcsLauncher],
    ecs: EcsHand,
    unique: str,
    stopped: dict[str, object],
    reason: str,
    infrastructure: bool,
) -> None:
    launcher = make_ecs_launcher()
    outcome = await supervised_outcome(launcher, ecs, unique, stopped)
    assert outcome.kind is OutcomeKind.EXITED and outcome.reason == reason
    assert outcome.infrastructure is infrastructure


@pytest.mark.parametrize(
    ("stopped", "message", "final"),
    [
        (
            {
                "exit_code": None,
                "stop_code": "TaskFailedToStart",
                "reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found",
            },
            "run worker lost: task failed to start: CannotPullContainerError: pull image manifest has been retried "
            "5 time(s): not found",
            True,
        ),
        (
            {
                "exit_code": None,
                "stop_code": "TaskFailedToStart",
                "reason": "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                "retrieval failed: unable to retrieve secret from asm",
            },
            "run worker lost: task failed to start: ResourceInitializationError: unable to pull secrets or registry "
            "auth: execution resource retrieval failed: unable to retrieve secret from asm",
            False,
        ),
        (
            {"exit_code": None, "stop_code": "UserInitiated", "reason": "Task stopped by user"},
            "run worker lost: task stopped outside the agent: Task stopped by user",
            True,
        ),
    ],
    ids=["image-pull", "resource-init", "stopped-by-a-user"],
)
async def test_a_task_that_never_ran_or_was_stopped_from_outside_is_lost_with_ecs_reason(
    make_ecs_launcher: Callable[..., EcsLauncher],
    ecs: EcsHand,
    unique: str,
    stopped: dict[str, object],
    message: str,
    final: bool,
) -> None:
    outcome = await supervised_outcome(make_ecs_launcher(), ecs, unique, stopped, run_first=False)
    assert outcome.kind is OutcomeKind.LOST and outcome.reason == message
    assert outcome.infrastructure is not final  # a final loss is not worth a new attempt


async def supervised_outcome(
    launcher: EcsLauncher, ecs: EcsHand, run_id: str, stopped: dict[str, object], run_first: bool = True
) -> RunOutcome:
    activities = RunActivities(LauncherRegistry({"ecs": launcher}), ControlPlaneClient("http://127.0.0.1:9", "-"))
    handle = await launcher.launch_worker(run_input(run_id), Tokens())
    arn = str(handle.ref["task"])
    if run_first:
        ecs.running(arn)
    else:
        ecs.pending(arn)
    supervise = asyncio.ensure_future(
        ActivityEnvironment().run(activities.supervise_run_worker, WatchRunInput(handle=handle))
    )
    await asyncio.sleep(0.3)
    assert not supervise.done()
    ecs.stopped(arn, **stopped)  # type: ignore[arg-type]
    return await asyncio.wait_for(supervise, 10)


async def test_cancel_stops_the_task_and_a_later_launch_of_that_attempt_is_refused(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, unique: str
) -> None:
    launcher = make_ecs_launcher()
    handle, arn = await running_task(launcher, ecs, unique)
    ecs.exits_on_stop(arn, exit_code=143)  # the run executor's answer to SIGTERM
    result = await launcher.stop_worker(unique, 1, 10)
    assert ecs.desired_stopped(arn)
    assert result.stopped and result.signal == 15 and not result.ended_by_itself
    [task] = ecs.tasks(started_by=handle.name)
    assert task["stoppedReason"] == "stopped by longshoreman agent agent-a"
    view = await launcher.worker_state(handle)
    assert (view.phase, view.signal) == (Phase.EXITED, 15)
    # Another replica (or the agent restarted) knows the stop for the agent's own by its reason.
    elsewhere = await make_ecs_launcher().worker_state(handle)
    assert (elsewhere.phase, elsewhere.signal) == (Phase.EXITED, 15) and "outside" not in elsewhere.message

    # A stop that came first (a cancel before the launch activity ran) is never undone by a late launch.
    early = await launcher.stop_worker(unique, 2, 10)
    assert not early.stopped
    with pytest.raises(LaunchError, match="stopped before it started"):
        await make_ecs_launcher().launch_worker(run_input(unique, attempt=2), Tokens())
    assert ecs.tasks(started_by=f"run-{unique}-a2") == []


async def test_supervising_many_runs_costs_one_describe_per_100_tasks_per_poll(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, unique: str
) -> None:
    launcher = make_ecs_launcher(poll_interval_s=0.2, resync_interval_s=3600)
    handles = [await launcher.launch_worker(run_input(f"{unique}{i}"), Tokens()) for i in range(150)]
    for handle in handles:
        ecs.running(str(handle.ref["task"]))
    await launcher.poller.next_cycle(10)
    before = launcher.api.calls["ecs:DescribeTasks"]
    await launcher.poller.next_cycle(10)
    await asyncio.gather(*(launcher.worker_state(h) for h in handles))
    after = launcher.api.calls["ecs:DescribeTasks"]
    assert after - before == 2  # 150 tasks: two batched calls in one poll, none per state question


async def test_a_task_whose_run_has_no_workflow_is_an_orphan_and_is_stopped(
    make_ecs_launcher: Callable[..., EcsLauncher], ecs: EcsHand, unique: str, temporal_client: Client
) -> None:
    launcher = make_ecs_launcher()
    handle, arn = await running_task(launcher, ecs, unique)  # no workflow run:<id> exists in Temporal
    [item] = [m for m in await launcher.managed() if m.kind == "worker"]
    assert (item.run_id, item.attempt, item.name) == (unique, 1, handle.name)

    async def connect() -> Client:
        return temporal_client

    ecs.exits_on_stop(arn, 143)
    sweeper = OrphanSweeper(launcher, TemporalOwners(connect), interval_s=60, grace_s=0, stop_grace_s=1)
    assert await sweeper.sweep() == [handle.name]
    assert ecs.desired_stopped(arn)
    assert await launcher.managed() == []
