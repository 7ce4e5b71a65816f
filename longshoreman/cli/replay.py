"""`longshoreman replay`: replay a run's or a location's workflow history against the current workflow code.

Histories come straight from Temporal (address, namespace and payload keys from the same LONGSHOREMAN_*
settings as the agent; the dev stack's key file is found next to its credentials) or from JSON files
(`temporal workflow show --output json`, or tests/histories/). Exit code 0 when every history replayed cleanly.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from contracts.temporal import location_workflow_id, run_workflow_id
from longshoreman.cli.api_client import CliError
from longshoreman.cli.render import console
from runtime.codec import KeyConfigError, KeyRing, load_keyring
from runtime.settings import ProcessSettings
from runtime.temporal_connection import TemporalConfigError

if TYPE_CHECKING:
    from temporalio.client import WorkflowHistory

DEV_KEY_FILE_NAME = "encryption-keys"


class ReplaySettings(ProcessSettings):
    """Where Temporal is and which keys decrypt its payloads: the agent's variables, read the same way."""

    def replay_keyring(self, key_file: Path | None) -> KeyRing | None:
        """Keys from --key-file, the settings, or the dev stack's key file next to its credentials."""
        inline = self.encryption_keys.get_secret_value() if self.encryption_keys else None
        path = key_file or self.encryption_key_file
        if path is None and not inline:
            from longshoreman.cli.settings import CliSettings

            dev_keys = CliSettings().credentials_file.parent / DEV_KEY_FILE_NAME
            path = dev_keys if dev_keys.exists() else None
        try:
            return load_keyring(None if key_file else inline, path, self.plaintext_payloads)
        except KeyConfigError as err:
            raise CliError(f"cannot decrypt payloads: {err}") from None


def _workflow_ids(run_id: str | None, location: str | None) -> str:
    if run_id is not None:
        # Run ids hold no colon; every workflow id does (run:, location:, sensor:, backfill:, alert:, agent-watch:).
        return run_id if ":" in run_id else run_workflow_id(run_id)
    assert location is not None
    return location_workflow_id(location)


async def _fetch(
    settings: ReplaySettings, workflow_id: str, temporal_run_id: str | None, all_runs: bool
) -> list[WorkflowHistory] | str:
    """The histories, or an error message.

    Errors are returned, not raised: an exception escaping asyncio.run keeps the Temporal client alive in its
    traceback until interpreter shutdown, and dropping the client then can crash the process.
    """
    from temporalio.converter import DataConverter
    from temporalio.service import RPCError, RPCStatusCode

    connection = settings.temporal
    missing = f"no workflow {workflow_id} in namespace {connection.resolve().namespace}"
    try:
        # Histories are fetched as they are (encrypted); the replayer decrypts them.
        client = await connection.connect(DataConverter.default)
    except TemporalConfigError as err:
        return str(err)
    try:
        if all_runs:
            # Every execution Temporal still keeps under this id: the runs before each continue-as-new too.
            query = f"WorkflowId = '{workflow_id}'"
            histories = [history async for history in client.list_workflows(query).map_histories()]
            return histories or missing
        return [await client.get_workflow_handle(workflow_id, run_id=temporal_run_id).fetch_history()]
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return missing
        return f"Temporal at {connection.describe()} refused the history of {workflow_id}: {err}"
    finally:
        # Let the SDK's threads finish with the client inside the loop: dropped during interpreter
        # shutdown (right after a failed call), it can abort the process.
        del client
        gc.collect()
        await asyncio.sleep(0.05)


def _load_files(files: list[Path]) -> list[WorkflowHistory]:
    from agent.replay import load_history

    histories = []
    for path in files:
        try:
            histories.append(load_history(path.read_text(), path.stem))
        except OSError as err:
            raise CliError(f"cannot read {path}: {err.strerror or err}") from None
        except (ValueError, KeyError) as err:
            raise CliError(f"{path} is not a workflow history in JSON: {err}") from None
    return histories


def replay(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id (or a workflow id such as location:NAME, alert:POLICY:EVENT).")
    ] = None,
    location: Annotated[str | None, typer.Option("--location", "-l", help="Replay a code location's workflow.")] = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="History JSON file (repeatable), e.g. tests/histories/.")
    ] = None,
    all_runs: Annotated[
        bool, typer.Option("--all-runs", help="Every execution Temporal keeps of the workflow id, not only the latest.")
    ] = False,
    temporal_run_id: Annotated[
        str | None, typer.Option(help="One execution (Temporal run id) of the workflow.")
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="SDK debug mode: breakpoints in workflow code stop the replay.")
    ] = False,
    key_file: Annotated[Path | None, typer.Option(help="Payload key file (default: LONGSHOREMAN_* settings).")] = None,
) -> None:
    """Replay workflow histories against the current workflow code: replayed cleanly, or where it diverges."""
    sources = sum(x is not None and x != [] for x in (run_id, location, file))
    if sources != 1:
        raise CliError("give exactly one of RUN_ID, --location NAME or --file history.json")
    settings = ReplaySettings()
    keys = settings.replay_keyring(key_file)
    if file:
        histories = _load_files(file)
    else:
        fetched = asyncio.run(_fetch(settings, _workflow_ids(run_id, location), temporal_run_id, all_runs))
        if isinstance(fetched, str):
            raise CliError(fetched)
        histories = fetched
    if debug:
        console.print("[dim]debug mode: deadlock detection is off; breakpoints in workflow code will stop here[/]")
    code = asyncio.run(_replay(histories, keys, debug))
    raise typer.Exit(code)


def replayable_workflows() -> tuple[type, ...]:
    """Every workflow Longshoreman runs: the agent's, its leases' and the control plane's (alerts, agent watches)."""
    from controlplane.alerts.workflows import CONTROL_PLANE_WORKFLOWS
    from workflows.catalog import AGENT_WORKFLOWS, LEASE_WORKFLOWS

    return AGENT_WORKFLOWS + LEASE_WORKFLOWS + CONTROL_PLANE_WORKFLOWS


async def _replay(histories: list[WorkflowHistory], keys: KeyRing | None, debug: bool) -> int:
    from agent.replay import HistoryReplayer

    verdicts = await HistoryReplayer(keys, debug=debug, workflows=replayable_workflows()).verdicts(histories)
    for verdict in verdicts:
        style = "green" if verdict.clean else "bold red"
        first, _, rest = verdict.describe().partition("\n")
        console.print(f"[{style}]{first}[/]" + (f"\n{rest}" if rest else ""), markup=True, highlight=False)
    failed = sum(not verdict.clean for verdict in verdicts)
    if len(verdicts) > 1:
        console.print(f"{len(verdicts) - failed} replayed cleanly, {failed} failed")
    return 1 if failed else 0
