"""Every workflow the agent runs: one list for its worker and for `longshoreman replay`, so neither misses one."""

from __future__ import annotations

from workflows.agent_lease_workflow import AgentLeaseWorkflow
from workflows.backfill_workflow import BackfillWorkflow
from workflows.location_workflow import CodeLocationWorkflow
from workflows.run_workflow import RunWorkflow
from workflows.schedule_tick_workflow import ScheduleTickWorkflow
from workflows.sensor_workflow import SensorWorkflow
from workflows.validate_config_workflow import ValidateConfigWorkflow

AGENT_WORKFLOWS: tuple[type, ...] = (
    CodeLocationWorkflow,
    RunWorkflow,
    ScheduleTickWorkflow,
    SensorWorkflow,
    BackfillWorkflow,
    ValidateConfigWorkflow,
)
# On each queue's lease queue (agent/lease.py), by a worker of their own.
LEASE_WORKFLOWS: tuple[type, ...] = (AgentLeaseWorkflow,)
