"""What the ecs launcher creates, as API request bodies: task definitions, services, tasks, secrets, tags.

Names are the idempotency keys (contracts/handles.py): a code-server instance is the service
`<agent>-<location>-g<generation>-i<instance>`, a run attempt the task started by `run-<run id>-a<attempt>`;
every object carries the tags below, and the agent finds its objects by them, never by what it keeps in memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from activities.launchers.base import run_worker_env
from activities.launchers.ecs.settings import EcsLauncherSettings
from contracts.agent import LaunchRunInput
from contracts.code_server_protocol import PORT_VAR, code_server_command
from contracts.ecs import EcsOptions
from contracts.locations import LocationSpec
from contracts.run_protocol import TOKEN_VAR, RunWorkerEnv, run_worker_command

Body = dict[str, Any]

MANAGED_BY = "longshoreman.managed-by"
AGENT = "longshoreman.agent"
KIND = "longshoreman.kind"  # server | worker
NAME = "longshoreman.name"  # the handle name: code_server_name() or run_worker_name()
LOCATION = "longshoreman.location"
GENERATION = "longshoreman.generation"
INSTANCE = "longshoreman.instance"
RUN_ID = "longshoreman.run-id"
ATTEMPT = "longshoreman.attempt"
STOPPED = "longshoreman.stopped"  # on a run's secret: the attempt was stopped; never launch it
MANAGER = "longshoreman"
SERVER_CONTAINER, WORKER_CONTAINER = "code-server", "run"
STARTED_BY = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
MEMORY_MIB = {"": 1 / 2**20, "k": 1 / 1024, "K": 1 / 1024, "Ki": 1 / 1024, "m": 1, "M": 1, "Mi": 1}
MEMORY_MIB |= {"g": 1024, "G": 1024, "Gi": 1024}


def family(agent: str, kind: str) -> str:
    """The task-definition family of one agent's code servers or run workers (ListTasks filters by it)."""
    return f"longshoreman-{agent}-{kind}"


def service_name(agent: str, server: str) -> str:
    """The ECS service of one code-server instance."""
    return f"{agent}-{server}"


def secret_name(agent: str, name: str) -> str:
    """The Secrets Manager secret of one run attempt (its token, the location's secret_env) or server."""
    return f"longshoreman/{agent}/{name}"


def started_by(name: str) -> str:
    """RunTask's `startedBy` for a worker name (at most 36 letters, digits, - and _; longer names are hashed)."""
    return name if STARTED_BY.fullmatch(name) else "h" + hashlib.sha256(name.encode()).hexdigest()[:35]


def tags(values: dict[str, str]) -> list[Body]:
    """ECS's tag list."""
    return [{"key": key, "value": value} for key, value in values.items()]


def secret_tags(values: dict[str, str]) -> list[Body]:
    """Secrets Manager's tag list (capitalised keys)."""
    return [{"Key": key, "Value": value} for key, value in values.items()]


def tag_map(items: list[Body] | None) -> dict[str, str]:
    """Either API's tag list as a dict."""
    return {str(t.get("key", t.get("Key"))): str(t.get("value", t.get("Value", ""))) for t in items or []}


def server_tags(spec: LocationSpec, generation: int, instance: int, name: str, agent: str) -> dict[str, str]:
    """Tags of a code server's service, task definition, tasks and secret."""
    return spec.ecs.tags | {
        MANAGED_BY: MANAGER,
        AGENT: agent,
        KIND: "server",
        NAME: name,
        LOCATION: spec.name,
        GENERATION: str(generation),
        INSTANCE: str(instance),
    }


def worker_tags(request: LaunchRunInput, name: str, agent: str) -> dict[str, str]:
    """Tags of a run attempt's task, task definition and secret."""
    return request.location.ecs.tags | {
        MANAGED_BY: MANAGER,
        AGENT: agent,
        KIND: "worker",
        NAME: name,
        LOCATION: request.location.name,
        RUN_ID: request.run_id,
        ATTEMPT: str(request.attempt),
    }


def cpu_units(cpu: float | None, default: int) -> int:
    """CPUs as ECS CPU units (1 vCPU = 1024)."""
    return default if cpu is None else max(128, math.ceil(cpu * 1024))


def memory_mib(memory: str | None, default: int) -> int:
    """A spec's memory ('512Mi', '1g') in MiB."""
    if memory is None:
        return default
    number = memory.rstrip("KMGikmg")
    return max(128, math.ceil(float(number) * MEMORY_MIB[memory[len(number) :]]))


def server_task_definition(
    spec: LocationSpec, name: str, tag_values: dict[str, str], secret_arn: str | None, settings: EcsLauncherSettings
) -> Body:
    """The code server: the image's SDK server on the location's port; secret_env read from its secret."""
    command = code_server_command(
        settings.python, spec.module, spec.port, "0.0.0.0", spec.command, spec.framework, spec.python_file
    )
    env = spec.env | {"PYTHONUNBUFFERED": "1", PORT_VAR: str(spec.port)}
    container = _container(SERVER_CONTAINER, spec, command, env, _secret_refs(secret_arn, spec.secret_env), settings)
    container["portMappings"] = [{"containerPort": spec.port, "protocol": "tcp"}]
    return _task_definition(family(str(settings.agent_name), "server"), spec, container, tag_values, settings)


def worker_task_definition(
    request: LaunchRunInput,
    tag_values: dict[str, str],
    secret_arn: str,
    control_plane_url: str,
    settings: EcsLauncherSettings,
) -> Body:
    """One run attempt: the run protocol's environment in plain view, its token and secret_env by reference.

    The token is only a reference (`secrets[].valueFrom`, a JSON key of the attempt's secret): ECS resolves it
    with the execution role when the task starts, so neither describe-task-definition nor describe-tasks
    shows its value.
    """
    spec = request.location
    reserved = RunWorkerEnv.names()
    env = {k: v for k, v in spec.env.items() if k not in reserved} | {"PYTHONUNBUFFERED": "1"}
    env |= run_worker_env(request, control_plane_url).to_env()
    secret_keys = {k: v for k, v in spec.secret_env.items() if k not in reserved} | {TOKEN_VAR: ""}
    command = run_worker_command(settings.python)
    container = _container(WORKER_CONTAINER, spec, command, env, _secret_refs(secret_arn, secret_keys), settings)
    return _task_definition(family(str(settings.agent_name), "worker"), spec, container, tag_values, settings)


def secret_value(values: dict[str, str]) -> str:
    """A secret's value: one JSON object, each key read into one variable."""
    return json.dumps(values)


def network(options: EcsOptions, settings: EcsLauncherSettings) -> Body:
    """awsvpc networking: the location's subnets and groups, else the agent's."""
    config: Body = {
        "subnets": list(options.subnets or settings.subnets),
        "securityGroups": list(options.security_groups or settings.security_groups),
        "assignPublicIp": "ENABLED" if _pick(options.assign_public_ip, settings.assign_public_ip) else "DISABLED",
    }
    return {"awsvpcConfiguration": config}


def placement(options: EcsOptions, settings: EcsLauncherSettings) -> Body:
    """Launch type or capacity provider (one of them: ECS refuses both)."""
    provider = options.capacity_provider or (None if options.launch_type else settings.capacity_provider)
    if provider:
        return {"capacityProviderStrategy": [{"capacityProvider": provider, "weight": 1}]}
    placed: Body = {"launchType": options.launch_type or settings.launch_type}
    if options.platform_version:
        placed["platformVersion"] = options.platform_version
    return placed


def cluster(options: EcsOptions, settings: EcsLauncherSettings) -> str:
    """The cluster of a location's service and tasks."""
    return options.cluster or settings.cluster


def _task_definition(
    family_name: str, spec: LocationSpec, container: Body, tag_values: dict[str, str], settings: EcsLauncherSettings
) -> Body:
    options = spec.ecs
    body: Body = {
        "family": family_name,
        "networkMode": "awsvpc",
        "containerDefinitions": [container],
        "cpu": str(cpu_units(spec.resources.cpu, settings.default_cpu)),
        "memory": str(memory_mib(spec.resources.memory, settings.default_memory_mib)),
        "tags": tags(tag_values),
    }
    if (options.launch_type or settings.launch_type) == "FARGATE" and not options.capacity_provider:
        body["requiresCompatibilities"] = ["FARGATE"]
    task_role = options.task_role_arn or settings.task_role_arn
    execution_role = options.execution_role_arn or settings.execution_role_arn
    if task_role:
        body["taskRoleArn"] = task_role
    if execution_role:
        body["executionRoleArn"] = execution_role
    return body


def _container(
    name: str,
    spec: LocationSpec,
    command: list[str],
    env: dict[str, str],
    secrets: list[Body],
    settings: EcsLauncherSettings,
) -> Body:
    secrets = secrets + [{"name": s.name, "valueFrom": s.value_from} for s in spec.ecs.secrets]
    container: Body = {
        "name": name,
        "image": spec.image,
        "essential": True,
        "command": command,
        "environment": [{"name": key, "value": value} for key, value in env.items()],
        "memory": memory_mib(spec.resources.memory, settings.default_memory_mib),
        "stopTimeout": settings.stop_timeout_s,
    }
    if secrets:
        container["secrets"] = secrets
    if spec.working_dir:
        container["workingDirectory"] = spec.working_dir
    if settings.log_group:
        container["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": settings.log_group,
                "awslogs-region": str(settings.region),
                "awslogs-stream-prefix": str(settings.agent_name),
            },
        }
    return container


def _secret_refs(secret_arn: str | None, values: dict[str, str]) -> list[Body]:
    if secret_arn is None:
        return []
    return [{"name": key, "valueFrom": f"{secret_arn}:{key}::"} for key in sorted(values)]


def _pick(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def created_at(value: object) -> datetime:
    """An API timestamp (boto3 gives datetimes; tags hold ISO strings) as an aware datetime, else now."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return datetime.now(UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)
