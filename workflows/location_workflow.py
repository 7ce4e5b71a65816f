"""CodeLocationWorkflow: one per code location, id `location:<name>` — keeps one healthy code server alive."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ContinueAsNewVersioningBehavior

with workflow.unsafe.imports_passed_through():
    from contracts.agent import (
        Ack,
        HealthResult,
        LaunchServerInput,
        LocationState,
        ProbeInput,
        RedeployRequest,
        RedeployResult,
        ServerExit,
        StopResult,
        StopServerInput,
    )
    from contracts.handles import CodeServerHandle
    from contracts.locations import Definitions, LocationReport, LocationSpec, agent_queue_change
    from contracts.statuses import LocationStatus
    from contracts.temporal import (
        LOCATION_WORKFLOW,
        REDEPLOY_UPDATE,
        STATUS_QUERY,
        STOP_SIGNAL,
        UPGRADE_SIGNAL,
        Activities,
    )
    from workflows import options, search
    from workflows.errors import cause_of, error_type_of


class StartFailed(Exception):
    """A code-server instance did not become healthy; `final` if restarting cannot help (only a redeploy can)."""

    def __init__(self, reason: str, final: bool) -> None:
        super().__init__(reason)
        self.final = final


@workflow.defn(name=LOCATION_WORKFLOW)
class CodeLocationWorkflow:
    """Long-lived entity: start, supervise, restart with crash-loop backoff, blue/green redeploy, stop."""

    @workflow.init
    def __init__(self, state: LocationState) -> None:
        self.state = state
        # Bring-up, restarts and redeploys each replace the server; one at a time.
        self._lock = asyncio.Lock()
        self._reports: list[asyncio.Task[None]] = []

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> LocationState:
        """The whole state: spec, generation, server, status, failures."""
        return self.state

    @workflow.signal(name=STOP_SIGNAL)
    def stop(self) -> None:
        """Stop the code server and finish."""
        self.state.stop_requested = True

    @workflow.signal(name=UPGRADE_SIGNAL)
    def check_version(self) -> None:
        """A newer agent version became current (agent/versioning.py): this workflow task is the occasion to see
        it, and the run loop then moves over by continue-as-new once nothing is in flight."""

    @workflow.update(name=REDEPLOY_UPDATE)
    async def redeploy(self, request: RedeployRequest) -> RedeployResult:
        """Blue/green: start the new generation, wait healthy, report it, switch, then stop the old one."""
        async with self._lock:
            state = self.state
            generation = state.generation + 1
            try:
                handle, definitions = await self._start_instance(request.spec, generation)
            except StartFailed as err:
                message = (
                    f"redeploy to generation {generation} failed: {err}; generation {state.generation} keeps serving"
                )
                self._report(state.status if state.server else LocationStatus.ERROR, message)
                raise ApplicationError(message, type="RedeployFailed", non_retryable=True) from None
            old = state.server
            state.spec, state.generation, state.server = request.spec, generation, handle
            state.definitions, state.consecutive_failures, state.halted = definitions, 0, False
            # The control plane must point at the new server before the old one goes away.
            await self._report(LocationStatus.LOADED, f"generation {generation} serving", definitions)
            if old is not None:
                await self._stop_server(old)
            return RedeployResult(generation=generation, server=handle.name, status=LocationStatus.LOADED)

    @redeploy.validator
    def _validate_redeploy(self, request: RedeployRequest) -> None:
        if request.spec.name != self.state.spec.name:
            raise ValueError(f"spec name '{request.spec.name}' does not match location '{self.state.spec.name}'")
        if request.spec.agent_queue != self.state.spec.agent_queue:
            # This workflow and its server live on the old queue's agent: it cannot move itself there.
            raise ValueError(agent_queue_change(self.state.spec.agent_queue, request.spec.agent_queue))
        if self.state.stop_requested:
            raise ValueError(f"location '{self.state.spec.name}' is stopping")

    @workflow.run
    async def run(self, state: LocationState) -> LocationState:
        """Keep a healthy server until stopped; continue-as-new when history grows."""
        while not self.state.stop_requested:
            if self._should_continue_as_new():
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._lock.locked())
                await self._flush_reports()
                if self._newer_version():
                    # Pinned to its version, the workflow moves to the current one at continue-as-new: its code
                    # server (in the state) keeps running, and no patch is needed for this move.
                    workflow.continue_as_new(
                        self.state, initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE
                    )
                workflow.continue_as_new(self.state)
            if self.state.server is None and self.state.halted:
                await workflow.wait_condition(lambda: self.state.stop_requested or self.state.server is not None)
            elif self.state.server is None:
                await self._bring_up()
            else:
                await self._supervise()
        await self._shutdown()
        return self.state

    # ---- lifecycle steps --------------------------------------------------------------------

    async def _bring_up(self) -> None:
        async with self._lock:
            state = self.state
            if state.server is not None or state.stop_requested:
                return
            self._report(LocationStatus.STARTING, f"starting generation {state.generation}")
            try:
                state.server, state.definitions = await self._start_instance(state.spec, state.generation)
            except StartFailed as err:
                if err.final:
                    state.halted = True
                    self._report(LocationStatus.ERROR, f"{err}; not restarting: fix the spec and redeploy")
                    return
                state.consecutive_failures += 1
                delay = self._backoff()
                self._report(
                    LocationStatus.ERROR,
                    f"{err}; attempt {state.consecutive_failures} failed, retrying in {delay:g} s",
                )
            else:
                self._report(LocationStatus.LOADED, f"generation {state.generation} serving", state.definitions)
                return
        await self._wait_or_wake(delay)

    async def _supervise(self) -> None:
        handle = self.state.server
        assert handle is not None
        probe = ProbeInput(handle=handle, health_path=self.state.spec.health_path, settings=self.state.spec.supervision)
        task: Any = workflow.start_activity(
            Activities.SUPERVISE_CODE_SERVER, probe, result_type=ServerExit, **options.watch()
        )
        await workflow.wait_condition(
            lambda: (
                task.done()
                or self.state.stop_requested
                or self.state.server is not handle
                or self._should_continue_as_new()
            )
        )
        if not task.done():
            task.cancel()
            return
        try:
            ended: ServerExit = task.result()
        except ActivityError as err:
            ended = ServerExit(reason=f"supervision failed: {cause_of(err)}")
        async with self._lock:
            if self.state.server is not handle:
                return  # a redeploy replaced it meanwhile
            state = self.state
            if ended.healthy_for_s >= state.spec.supervision.stable_after_s:
                state.consecutive_failures = 0
            state.consecutive_failures += 1
            delay = self._backoff()
            self._report(
                LocationStatus.UNHEALTHY,
                f"{ended.reason}; restarting in {delay:g} s (failure {state.consecutive_failures} in a row)",
            )
            await self._stop_server(handle)
            state.server = None
        await self._wait_or_wake(delay)

    async def _start_instance(self, spec: LocationSpec, generation: int) -> tuple[CodeServerHandle, Definitions]:
        """Launch a new instance, wait until healthy, fetch its definitions; stop it again if any step fails."""
        self.state.instance += 1
        launch = LaunchServerInput(spec=spec, generation=generation, instance=self.state.instance)
        handle: CodeServerHandle | None = None
        try:
            handle = await workflow.execute_activity(
                Activities.LAUNCH_CODE_SERVER, launch, result_type=CodeServerHandle, **options.launch()
            )
            probe = ProbeInput(
                handle=handle,
                health_path=spec.health_path,
                timeout_s=spec.startup_timeout_s,
                # The new generation's own settings: a redeploy may change how its server is probed.
                settings=spec.supervision,
            )
            await workflow.execute_activity(
                Activities.AWAIT_HEALTHY,
                probe,
                result_type=HealthResult,
                **options.watch(timedelta(seconds=spec.startup_timeout_s + 60)),
            )
            definitions = await workflow.execute_activity(
                Activities.FETCH_DEFINITIONS, handle, result_type=Definitions, **options.quick()
            )
        except ActivityError as err:
            if handle is not None:
                await self._stop_server(handle)
            raise StartFailed(cause_of(err), final=error_type_of(err) in options.HALTING_ERRORS) from None
        return handle, definitions

    async def _stop_server(self, handle: CodeServerHandle) -> None:
        stop = StopServerInput(handle=handle, grace_s=self.state.spec.supervision.stop_grace_s)
        try:
            await workflow.execute_activity(
                Activities.STOP_CODE_SERVER, stop, result_type=StopResult, **options.stop(stop.grace_s)
            )
        except ActivityError as err:
            workflow.logger.warning("stopping %s failed: %s", handle.name, cause_of(err))

    async def _shutdown(self) -> None:
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._lock.locked())
        self._report(LocationStatus.STOPPING, "stopping")
        if self.state.server is not None:
            await self._stop_server(self.state.server)
            self.state.server = None
        self._report(LocationStatus.STOPPED, "stopped")
        await self._flush_reports()

    # ---- helpers ----------------------------------------------------------------------------

    def _backoff(self) -> float:
        """No wait after a first failure (a one-off crash costs nothing), then doubling up to the maximum."""
        settings = self.state.spec.supervision
        if self.state.consecutive_failures <= 1:
            return 0.0
        exponent = self.state.consecutive_failures - 2
        return float(min(settings.backoff_initial_s * 2**exponent, settings.backoff_max_s))

    async def _wait_or_wake(self, delay_s: float) -> None:
        """Sleep through the backoff, but wake for a stop or when a redeploy brought a server up."""
        if delay_s > 0:
            try:
                await workflow.wait_condition(
                    lambda: self.state.stop_requested or self.state.server is not None, timeout=delay_s
                )
            except TimeoutError:
                pass

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.state.spec.supervision.max_history_events
            or self._newer_version()
        )

    @staticmethod
    def _newer_version() -> bool:
        """A versioned agent (agent/versioning.py) of a newer version is current; never true without versioning."""
        return workflow.info().is_target_worker_deployment_version_changed()

    def _report(
        self, status: LocationStatus, message: str, definitions: Definitions | None = None
    ) -> asyncio.Task[None]:
        """Send a status report without waiting (the control plane orders reports by seq); await to be sure."""
        state = self.state
        state.status, state.message = status, message
        search.set_location_status(status)
        state.report_seq += 1
        report = LocationReport(
            name=state.spec.name,
            status=status,
            generation=state.generation,
            seq=state.report_seq,
            message=message,
            definitions=definitions,
            server=state.server.name if state.server else None,
            workflow_id=workflow.info().workflow_id,
            # The control plane stores what actually serves, whatever happened to the redeploy requests.
            spec=state.spec,
        )
        task = asyncio.create_task(self._send(report))
        self._reports = [pending for pending in self._reports if not pending.done()] + [task]
        return task

    async def _send(self, report: LocationReport) -> None:
        try:
            await workflow.execute_activity(Activities.REPORT_LOCATION, report, result_type=Ack, **options.report())
        except ActivityError as err:
            workflow.logger.warning("report %s not delivered: %s", report.status, cause_of(err))

    async def _flush_reports(self) -> None:
        await asyncio.gather(*self._reports)
