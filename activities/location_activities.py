"""Activities of a code location's lifecycle: launch, probe, fetch definitions, supervise, stop."""

from __future__ import annotations

import time

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.launchers.base import LaunchError, Phase, describe_exit, launch_failure, wait_server_end
from activities.launchers.registry import LauncherRegistry
from activities.metrics import HEALTH_CHECK_FAILURES
from activities.polling import heartbeating, poll_until, watch_until
from contracts.agent import HealthResult, LaunchServerInput, ProbeInput, ServerExit, StopResult, StopServerInput
from contracts.code_server_protocol import DEFINITIONS_PATH
from contracts.handles import CodeServerHandle
from contracts.locations import MAX_DEFINITIONS_BYTES, Definitions
from contracts.temporal import Activities


class LocationActivities:
    """Side effects of CodeLocationWorkflow."""

    def __init__(self, launchers: LauncherRegistry, forward_logs: bool = True) -> None:
        self._launchers = launchers
        self._forward_logs = forward_logs  # False: a code server's output never goes into a reason
        self._http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    @activity.defn(name=Activities.LAUNCH_CODE_SERVER)
    async def launch_code_server(self, request: LaunchServerInput) -> CodeServerHandle:
        """Start the code-server instance named by location, generation and instance (adopts an existing one)."""
        launcher = self._launchers.get(request.spec.launcher)
        try:
            async with heartbeating():
                return await launcher.launch_server(request.spec, request.generation, request.instance)
        except LaunchError as err:
            raise launch_failure(err) from err

    @activity.defn(name=Activities.AWAIT_HEALTHY)
    async def await_healthy(self, probe: ProbeInput) -> HealthResult:
        """Wait until the server answers its health path; fail fast if it exits; give up after the startup timeout."""
        handle = probe.handle
        launcher = self._launchers.get(handle.launcher)
        deadline = handle.launched_at.timestamp() + probe.timeout_s

        async def check() -> HealthResult | None:
            view = await launcher.server_state(handle)
            if view.phase in (Phase.EXITED, Phase.LOST):
                if self._forward_logs:
                    output = (await launcher.log_tail(handle.name, 1500)).strip()[-1500:]
                else:
                    output = "its output stays in your environment (log forwarding is off)"
                raise ApplicationError(
                    f"code server {describe_exit(view)} during start-up: {output}",
                    # A final failure (image cannot be pulled...) halts the location until a redeploy.
                    type="LaunchError" if view.final else "ServerExited",
                    non_retryable=True,
                )
            if await self._healthy(handle.url + probe.health_path, probe.settings.probe_timeout_s) is None:
                return HealthResult(healthy=True, elapsed_s=time.time() - handle.launched_at.timestamp())
            if time.time() > deadline:
                raise ApplicationError(
                    f"code server not healthy within the startup timeout of {probe.timeout_s:g} s",
                    type="StartupTimeout",
                    non_retryable=True,
                )
            return None

        return await poll_until(check, 0.05)

    @activity.defn(name=Activities.FETCH_DEFINITIONS)
    async def fetch_definitions(self, handle: CodeServerHandle) -> Definitions:
        """Ask the code server which jobs it offers."""
        try:
            async with self._http.stream("GET", handle.url + DEFINITIONS_PATH, timeout=10) as response:
                response.raise_for_status()
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DEFINITIONS_BYTES:
                        # Carried in workflow state and reports, too much would wedge the location's workflow
                        # on Temporal's payload limit: refuse, and say why. Restarting cannot help.
                        raise ApplicationError(
                            f"code server {handle.name} offers more than {MAX_DEFINITIONS_BYTES} bytes of "
                            "definitions (the limit): split the location or shrink its jobs' config schemas",
                            type="DefinitionsTooLarge",
                            non_retryable=True,
                        )
            return Definitions.model_validate_json(bytes(body))
        except httpx.HTTPError as err:
            raise ApplicationError(f"cannot fetch definitions from {handle.name}: {err!r}", type="Definitions") from err
        except ValueError as err:
            raise ApplicationError(
                f"code server {handle.name} sent invalid definitions: {err}", type="Definitions", non_retryable=True
            ) from err

    @activity.defn(name=Activities.SUPERVISE_CODE_SERVER)
    async def supervise_code_server(self, probe: ProbeInput) -> ServerExit:
        """Probe the server until it is gone or fails `failure_threshold` probes in a row; heartbeats meanwhile."""
        handle = probe.handle
        launcher = self._launchers.get(handle.launcher)
        settings = probe.settings
        since = time.time()
        failures: list[str] = []

        async def step() -> ServerExit | None:
            # Between probes, wait for the process to end: a crash is noticed at once, not at the next probe.
            view = await wait_server_end(launcher, handle, settings.probe_interval_s)
            if view.phase in (Phase.EXITED, Phase.LOST):
                return ServerExit(reason=f"code server {describe_exit(view)}", healthy_for_s=time.time() - since)
            problem = await self._healthy(handle.url + probe.health_path, settings.probe_timeout_s)
            if problem is None:
                failures.clear()
                return None
            failures.append(problem)
            HEALTH_CHECK_FAILURES.labels(handle.location).inc()
            if len(failures) >= settings.failure_threshold:
                return ServerExit(
                    reason=f"health check failed {len(failures)} times in a row: {problem}",
                    healthy_for_s=time.time() - since,
                )
            return None

        return await watch_until(step)

    @activity.defn(name=Activities.STOP_CODE_SERVER)
    async def stop_code_server(self, request: StopServerInput) -> StopResult:
        """Stop a code-server instance; idempotent."""
        launcher = self._launchers.get(request.handle.launcher)
        return await launcher.stop_server(request.handle, request.grace_s)

    async def _healthy(self, url: str, timeout_s: float) -> str | None:
        """None if healthy, else what went wrong."""
        try:
            response = await self._http.get(url, timeout=timeout_s)
        except httpx.TimeoutException:
            return f"no answer within {timeout_s:g} s"
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    async def aclose(self) -> None:
        """Close the probe client."""
        await self._http.aclose()
