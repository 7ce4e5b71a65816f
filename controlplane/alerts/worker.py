"""The control plane's own Temporal worker (task queue ALERTS_TASK_QUEUE): alert deliveries and agent watches.

It runs inside every control-plane process (`longshoreman dev`, docker compose and the Kubernetes Deployment
start it with the API; replicas share the queue, so any one takes the next task and a killed one's work moves
to another). It connects on its own, retrying while Temporal is down: the API does not wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from controlplane.alerts.activities import AlertActivities
from controlplane.alerts.workflows import CONTROL_PLANE_WORKFLOWS
from runtime.codec import KeyRing
from runtime.converter import data_converter
from runtime.temporal_connection import TemporalConnection

log = logging.getLogger(__name__)
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0


def build_worker(client: Client, task_queue: str, activities: AlertActivities) -> Worker:
    """The worker of the alert workflows and activities on `task_queue`."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(CONTROL_PLANE_WORKFLOWS),
        activities=[
            activities.decide,
            activities.deliver,
            activities.gave_up,
            activities.check_agent,
        ],
        max_concurrent_activities=50,
        graceful_shutdown_timeout=timedelta(seconds=2),
        # A killed control plane's sticky queue would hold its workflows' next tasks 10 s by default.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
    )


class AlertWorker:
    """Connects to Temporal and runs the worker until cancelled, reconnecting with backoff."""

    def __init__(
        self, connection: TemporalConnection, keys: KeyRing | None, task_queue: str, activities: AlertActivities
    ) -> None:
        self._connection = connection
        self._keys = keys
        self._task_queue = task_queue
        self._activities = activities

    async def run_forever(self) -> None:
        """Serve the queue until cancelled."""
        delay = RECONNECT_MIN_S
        while True:
            try:
                client = await self._connection.connect(
                    data_converter(self._keys), identity=f"longshoreman-controlplane-alerts@{socket.gethostname()}"
                )
                worker = build_worker(client, self._task_queue, self._activities)
                delay = RECONNECT_MIN_S
                await worker.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("alert worker not serving %s (%s); retrying in %.0f s", self._task_queue, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
