"""Upgrading agents without stopping runs: Temporal's Worker Versioning (worker deployments and build ids).

With `versioning: auto` an agent is a versioned worker of the deployment `deployment_name`, its build id the
hash of the workflow code it runs. Every workflow is pinned to the version that started it: a run finishes on
the code it started on, whatever is deployed meanwhile, so new releases need no `workflow.patched` for runs.
At start the agent makes its version the current one (new runs go there) and asks each location workflow of
its queue to check its version; a location workflow then continues-as-new onto the new version at a quiet
moment (workflows/location_workflow.py), keeping its code server. An agent whose version is no longer current
keeps serving the runs pinned to it; at shutdown it waits until they are drained (`drain_timeout_s`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from importlib import metadata
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest, SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.worker import WorkerDeploymentConfig

from contracts.temporal import LOCATION_WORKFLOW, UPGRADE_SIGNAL

log = logging.getLogger("longshoreman.agent.versioning")
PROMOTE_FOR_S = 30.0  # a new version is known to Temporal once its worker polled: retry this long
DRAIN_POLL_S = 2.0
MOVE_FOR_S = 120.0
MOVE_POLL_S = 2.0
_WORKFLOW_CODE = ("workflows", "contracts")


def workflow_build_id() -> str:
    """The package version and a hash of the code that decides workflow histories (workflows/, contracts/)."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for package in _WORKFLOW_CODE:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        version = metadata.version("longshoreman")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"{version}-{digest.hexdigest()[:12]}"


def deployment_config(deployment_name: str, build_id: str) -> WorkerDeploymentConfig:
    """A versioned worker whose workflows stay on the version that started them."""
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name, build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


class VersionRollout:
    """Makes this agent's version current, moves the location workflows, and drains at shutdown."""

    def __init__(self, client: Client, task_queue: str, deployment_name: str, build_id: str, identity: str) -> None:
        self._client = client
        self._queue = task_queue
        self._deployment = deployment_name
        self._build_id = build_id
        self._identity = identity

    async def promote(self) -> None:
        """Make this version current (once Temporal knows it: after the worker's first poll), then wake every
        running location workflow of the queue so it moves over. Never raises: the agent serves regardless."""
        try:
            await self._promote()
        except Exception as err:
            log.warning("rolling out %s failed: %s", self.version, err)

    async def _promote(self) -> None:
        request = SetWorkerDeploymentCurrentVersionRequest(
            namespace=self._client.namespace,
            deployment_name=self._deployment,
            build_id=self._build_id,
            identity=self._identity,
        )
        deadline = asyncio.get_running_loop().time() + PROMOTE_FOR_S
        while True:
            try:
                await self._client.workflow_service.set_worker_deployment_current_version(request)
                break
            except RPCError as err:
                if asyncio.get_running_loop().time() >= deadline:
                    log.warning("could not make %s current: %s", self.version, err.message)
                    return
                await asyncio.sleep(0.2)
        log.info("version %s is current: new runs start on it", self.version)
        await self._move_location_workflows()

    async def _move_location_workflows(self) -> None:
        """Signal the location workflows of the queue not on this version yet, until they all are (a signal
        right after the switch may reach a workflow before it can see it), for at most MOVE_FOR_S."""
        query = f"WorkflowType = '{LOCATION_WORKFLOW}' AND TaskQueue = '{self._queue}' AND ExecutionStatus = 'Running'"
        deadline = asyncio.get_running_loop().time() + MOVE_FOR_S
        while True:
            waiting = 0
            async for execution in self._client.list_workflows(query):
                handle = self._client.get_workflow_handle(execution.id)
                try:
                    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
                    if info.deployment_version.build_id == self._build_id:
                        continue
                    await handle.signal(UPGRADE_SIGNAL)
                    waiting += 1
                except RPCError as err:
                    log.info("could not ask %s to move to %s: %s", execution.id, self.version, err.message)
            if waiting == 0:
                return
            if asyncio.get_running_loop().time() >= deadline:
                log.warning("%d location workflow(s) did not move to %s yet", waiting, self.version)
                return
            await asyncio.sleep(MOVE_POLL_S)

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until no open workflow is pinned to this version any more, unless it is
        still the current version (then the next agent of it takes them over)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pinned = (
            f"TemporalWorkerDeploymentVersion = '{self._deployment}:{self._build_id}' AND ExecutionStatus = 'Running'"
        )
        while loop.time() < deadline:
            try:
                if await self._is_current():
                    return
                left = (await self._client.count_workflows(pinned)).count
            except RPCError as err:
                log.info("cannot tell whether %s is drained (%s); not waiting", self.version, err.message)
                return
            if left == 0:
                return
            log.info(
                "version %s still serves %d pinned workflows; waiting for them before stopping", self.version, left
            )
            await asyncio.sleep(min(DRAIN_POLL_S, max(0.0, deadline - loop.time())))

    async def _is_current(self) -> bool:
        request = DescribeWorkerDeploymentRequest(namespace=self._client.namespace, deployment_name=self._deployment)
        described = await self._client.workflow_service.describe_worker_deployment(request)
        current = described.worker_deployment_info.routing_config.current_deployment_version
        return current.deployment_name == self._deployment and current.build_id == self._build_id

    @property
    def version(self) -> str:
        """'deployment:build_id', as Temporal shows it."""
        return f"{self._deployment}:{self._build_id}"
