"""AWS for tests: moto in server mode on a free loopback port, and a hand that plays ECS's missing parts.

moto serves the real AWS wire protocols over HTTP (boto3 is pointed at it with `endpoint_url`), keeps its
resources in memory, and runs no containers. Its ECS tasks start RUNNING and, by default, step towards
STOPPED each time they are described (its state manager, `ecs::task`); their containers' exit code is always
0, `stopCode` is never set, and services never start tasks. `EcsHand` freezes that progression through the
state-manager API (`/moto-api/state-manager/set-transition`) and then plays what ECS itself would do —
the service scheduler starting a service's task, the container agent reporting a task PENDING, RUNNING or
STOPPED with a stop code, an exit code and a container reason — by writing those fields on the task in
moto's own in-process model (the server runs in this test process), which is where ECS's answers come from.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
REGION = "eu-west-1"
Body = dict[str, Any]


@dataclass(frozen=True)
class Network:
    """A VPC with DNS host names (moto needs them for awsvpc tasks, like Fargate does), a subnet, a group."""

    vpc: str
    subnet: str
    security_group: str


class MotoServer:
    """moto's server in a thread of this process; every test gets a fresh (reset) account."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServer:
        # Credentials and region for every boto3 client of the tests; nothing leaves the machine.
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            os.environ.setdefault(key, value)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every resource (moto's reset API) and restore the default state transitions."""
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION)

    def set_transition(self, model: str, transition: Body) -> None:
        """moto's state-manager API: how a model's status progresses ('manual' N describes per step, ...)."""
        body = json.dumps({"model_name": model, "transition": transition})
        requests.post(f"{self.url}/moto-api/state-manager/set-transition", data=body, timeout=10).raise_for_status()

    def unset_transition(self, model: str) -> None:
        body = json.dumps({"model_name": model})
        requests.post(f"{self.url}/moto-api/state-manager/unset-transition", data=body, timeout=10).raise_for_status()


class EcsHand:
    """Plays ECS's scheduler and container agent on moto's model; creates the cluster and network first."""

    def __init__(self, moto: MotoServer, cluster: str = "longshoreman") -> None:
        self.moto = moto
        self.cluster = cluster
        # The tests decide when a task moves: moto's own progression (a step per describe) is frozen.
        moto.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
        self.ecs = moto.client("ecs")
        self.secrets = moto.client("secretsmanager")
        ec2 = moto.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="runs", Description="runs", VpcId=vpc)["GroupId"]
        self.network = Network(vpc, subnet, group)
        self.ecs.create_cluster(clusterName=cluster)

    # ---- reading, through the API like anyone else ----

    def tasks(self, started_by: str | None = None) -> list[Body]:
        """Every task of the cluster (optionally of one startedBy), described with tags."""
        params: Body = {"cluster": self.cluster} | ({"startedBy": started_by} if started_by else {})
        arns = self.ecs.list_tasks(**params)["taskArns"]
        if not arns:
            return []
        return list(self.ecs.describe_tasks(cluster=self.cluster, tasks=arns, include=["TAGS"])["tasks"])

    def task_definition(self, arn: str) -> Body:
        return dict(self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])

    def service(self, name: str) -> Body | None:
        found = self.ecs.describe_services(cluster=self.cluster, services=[name])["services"]
        return found[0] if found and found[0]["status"] != "INACTIVE" else None

    def secret(self, arn_or_name: str) -> str:
        return str(self.secrets.get_secret_value(SecretId=arn_or_name)["SecretString"])

    # ---- playing ECS ----

    def _task(self, arn: str) -> Any:
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[ACCOUNT][REGION]
        for tasks in backend.tasks.values():
            if arn in tasks:
                return tasks[arn]
        raise KeyError(arn)

    def pending(self, arn: str) -> None:
        """The container agent has the task but not its container running yet (image pull, ENI)."""
        self._task(arn).last_status = "PENDING"

    def running(self, arn: str, ip: str | None = None) -> None:
        """The container runs; `ip` replaces the task's private address (loopback, for a server the test serves)."""
        task = self._task(arn)
        task.last_status = "RUNNING"
        task.containers[0].last_status = "RUNNING"
        task.containers[0].exitCode = None
        if ip is not None:
            for detail in task.attachments[0]["details"]:
                if detail["name"] == "privateIPv4Address":
                    detail["value"] = ip

    def stopped(
        self,
        arn: str,
        *,
        exit_code: int | None,
        stop_code: str = "EssentialContainerExited",
        reason: str = "Essential container in task exited",
        container_reason: str | None = None,
    ) -> None:
        """The task has stopped as ECS reports it: stop code, stopped reason, the container's exit code and reason."""
        task = self._task(arn)
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stop_code = stop_code
        task.stopped_reason = reason
        container = task.containers[0]
        container.last_status = "STOPPED"
        container.exitCode = exit_code
        if container_reason is not None:
            container.reason = container_reason

    def exits_on_stop(self, arn: str, exit_code: int) -> None:
        """What the container will report once a StopTask's SIGTERM reaches it.

        moto's StopTask marks the task STOPPED at once (with the caller's reason) and leaves the container's
        exit code as it is: it is set here beforehand, with the stop code ECS gives a StopTask.
        """
        task = self._task(arn)
        task.stop_code = "UserInitiated"
        task.containers[0].exitCode = exit_code

    def desired_stopped(self, arn: str) -> bool:
        """Whether someone asked ECS to stop the task (StopTask, or its service scaled down)."""
        return bool(self._task(arn).desired_status == "STOPPED")

    def desired_stopped_service(self, name: str) -> bool:
        """Whether the service was scaled to 0 (or is gone)."""
        service = self.service(name)
        return service is None or service["desiredCount"] == 0

    def start_service_task(self, service_name: str) -> str:
        """The service scheduler starts one task for a service (moto's services start none): its ARN."""
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[ACCOUNT][REGION]
        service = backend.services[f"{self.cluster}:{service_name}"]
        tags = [{"key": t["key"], "value": t["value"]} for t in service.tags]
        tasks = backend.run_task(
            self.cluster,
            str(service.task_definition),
            1,
            None,
            "ecs-svc/1234567890123456789",
            tags,
            "FARGATE",  # the launcher's services are awsvpc (Fargate, or Fargate capacity providers)
            service.network_configuration or None,
            group=f"service:{service_name}",
        )
        return str(tasks[0].task_arn)


def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session."""
    server = MotoServer().start()
    yield server
    server.stop()
