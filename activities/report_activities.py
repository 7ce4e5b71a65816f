"""Activities that send metadata to the control plane."""

from __future__ import annotations

from temporalio import activity

from activities.control_plane_client import ControlPlaneClient
from contracts.agent import Ack
from contracts.locations import LocationReport
from contracts.runs import RunReport
from contracts.temporal import Activities


class ReportActivities:
    """Status reports; idempotent (the control plane ignores a report whose seq it has passed)."""

    def __init__(self, control_plane: ControlPlaneClient) -> None:
        self._control_plane = control_plane

    @activity.defn(name=Activities.REPORT_LOCATION)
    async def report_location(self, report: LocationReport) -> Ack:
        """Tell the control plane a location's status and definitions."""
        return await self._control_plane.report_location(report)

    @activity.defn(name=Activities.REPORT_RUN)
    async def report_run(self, report: RunReport) -> Ack:
        """Tell the control plane a run's status."""
        return await self._control_plane.report_run(report)
