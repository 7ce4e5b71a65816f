"""One run of a Dagster job in our run worker: Dagster's `execute_job` on a run-local instance, its event log
streamed as our run events while it runs.

Why `execute_job` (with a `ReconstructableJob`) and not `JobDefinition.execute_in_process`: it honours the
job's own executor (the multiprocess executor runs steps in child processes, which re-import the job through
the reconstructable pointer) and its run config's `execution` section. The instance lives only for the run:
in memory for an in-process executor, else a temporary directory (child processes need storage they share),
removed afterwards. Compute logs: in process, Dagster does not capture them (the steps' output goes through this
worker's sys.stdout and sys.stderr, which the executor captures as the run's log lines); with steps in child
processes, Dagster's LocalComputeLogManager captures each step process's output in files of that directory,
which are tailed as the run's log lines while the run goes (compute_logs.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
from dagster import DagsterEventType
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

from contracts.run_protocol import ASSETS_TAG, RunWorkerEnv
from longshoreman.dagster.compute_logs import ComputeLogTail, local_compute_logs
from longshoreman.dagster.events import error_summary, map_event, user_traceback
from longshoreman.dagster.loader import LoadedDefinitions, load, load_file
from longshoreman.definitions import LoadError
from longshoreman.run_capture import LineSink

EventSink = Callable[..., None]
POLL_S = 0.05
_NO_COMPUTE_LOGS: dict[str, object] = {
    "module": "dagster._core.storage.noop_compute_log_manager",
    "class": "NoOpComputeLogManager",
}


@dataclass(frozen=True)
class Outcome:
    """How the run ended: success, or the failing step and its error (summary: one line; detail: traceback)."""

    success: bool
    summary: str = ""
    detail: str = ""
    interrupted: bool = False  # a SIGTERM or SIGINT stopped it (Dagster's own interrupt handling, a cancel)


class DagsterRun:
    """A loaded Dagster job, ready to run once with the run's config, tags, asset selection and partition."""

    def __init__(self, settings: RunWorkerEnv, emit: EventSink, lines: LineSink | None = None) -> None:
        """`lines` receives the step processes' output (None: nothing wants it, Dagster need not capture it)."""
        self.settings = settings
        self._emit = emit
        self._lines = lines
        loaded = load_file(settings.python_file) if settings.python_file else load(settings.module)
        try:
            self.job = loaded.definitions.resolve_job_def(settings.job)
        except Exception as exc:
            available = ", ".join(sorted(j.name for j in loaded.definitions.resolve_all_job_defs())) or "none"
            where = f"file {settings.python_file!r}" if settings.python_file else f"module {settings.module!r}"
            raise LoadError(f"job {settings.job!r} not found in {where} (available: {available})") from exc
        self._recon = _repository(loaded).get_reconstructable_job(settings.job)
        self.tags = {k: v for k, v in settings.tags.items() if k != ASSETS_TAG}
        self.assets = self._asset_selection(settings.tags.get(ASSETS_TAG))
        try:
            dg.validate_run_config(self.job, settings.config)
        except dg.DagsterInvalidConfigError as exc:
            raise LoadError(f"run config is not valid for job {settings.job!r}: {exc}") from None

    def _asset_selection(self, raw: str | None) -> list[dg.AssetKey] | None:
        if raw is None:
            return None
        try:
            keys = json.loads(raw)
        except ValueError:
            keys = None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise LoadError(f"tag {ASSETS_TAG} must be a JSON list of asset keys, got {raw!r}")
        selection = [dg.AssetKey.from_user_string(k) for k in keys]
        unknown = sorted(set(keys) - {k.to_user_string() for k in self.job.asset_layer.executable_asset_keys})
        if unknown:
            raise LoadError(f"job {self.job.name!r} does not materialize {', '.join(unknown)}")
        return selection

    def execute(self) -> Outcome:
        """Run the job to its end (a cancel's RunCanceled passes through), streaming its events."""
        in_process = self.job.executor_def.name == "in_process"
        directory = None if in_process else tempfile.mkdtemp(prefix="longshoreman-dagster-")
        # In process, our capture of sys.stdout/sys.stderr sees the steps' output: Dagster capturing it too would
        # send each line twice. Steps in child processes are only heard through Dagster's capture.
        compute_logs: dict[str, object] = _NO_COMPUTE_LOGS
        if directory is not None and self._lines is not None:
            compute_logs = local_compute_logs(directory)
            # A step process's stdout is a file: block-buffered, a print would reach it (and the run's logs)
            # only when the step ends. Unbuffered, each line is tailed as it is written. (One run per worker.)
            os.environ["PYTHONUNBUFFERED"] = "1"
        overrides = {"compute_logs": compute_logs, "telemetry": {"enabled": False}}
        instance = dg.DagsterInstance.ephemeral() if in_process else dg.DagsterInstance.local_temp(directory, overrides)
        forwarder = _Forwarder(instance, self._emit, self.settings.forward_logs, self._lines)
        forwarder.start()
        try:
            result = dg.execute_job(
                self._recon,
                instance=instance,
                run_config=self.settings.config,
                tags=self.tags,
                asset_selection=self.assets,
            )
        finally:
            forwarder.stop()
            instance.dispose()
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
        if result.success:
            return Outcome(True)
        if any(_interrupted(event) for _, event in forwarder.failures):
            return Outcome(False, "interrupted", interrupted=True)
        return _failure(forwarder.failures, forwarder.run_failure)


def _repository(loaded: LoadedDefinitions) -> ReconstructableRepository:
    """How Dagster finds the Definitions again in a step's child process: the same module, or the same file."""
    if loaded.python_file is not None:
        return ReconstructableRepository.for_file(loaded.python_file, loaded.attribute, os.getcwd())
    return ReconstructableRepository.for_module(loaded.module, loaded.attribute, os.getcwd())


def _interrupted(event: dg.DagsterEvent) -> bool:
    # While a run executes, Dagster maps SIGTERM and SIGINT to its own handler, which raises this error in the step.
    error = event.step_failure_data.error if event.step_failure_data else None
    while error is not None:
        if error.cls_name == "DagsterExecutionInterruptedError":
            return True
        error = error.cause
    return False


def _failure(steps: list[tuple[str, dg.DagsterEvent]], run_failure: str) -> Outcome:
    if not steps:
        return Outcome(False, run_failure or "the Dagster run failed")
    step, event = steps[0]
    error = event.step_failure_data.error if event.step_failure_data else None
    if error is None:
        return Outcome(False, f"step '{step}' failed")
    others = f" (and {len(steps) - 1} more steps)" if len(steps) > 1 else ""
    return Outcome(False, f"step '{step}' failed{others}: {error_summary(error)}", user_traceback(error))


class _Forwarder:
    """Polls the run-local instance's event log and posts each new event while the run goes on."""

    def __init__(
        self, instance: dg.DagsterInstance, emit: EventSink, forward_logs: bool, lines: LineSink | None
    ) -> None:
        self._instance = instance
        self._emit = emit
        self._forward_logs = forward_logs
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dagster-events", daemon=True)
        self._lock = threading.Lock()
        self._run_id: str | None = None
        self._cursor: str | None = None
        self.failures: list[tuple[str, dg.DagsterEvent]] = []
        self.run_failure = ""
        self._tail: ComputeLogTail | None = None
        manager = instance.compute_log_manager
        # Only the instance of a run with steps in child processes has it (see DagsterRun.execute).
        if lines is not None and isinstance(manager, LocalComputeLogManager):
            self._tail = ComputeLogTail(manager, lambda: self._run_id, lines)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and forward what is left (the events of the run's last moments)."""
        self._stopped.set()
        self._thread.join()
        # execute_job has returned: the step processes are gone and their files hold all they wrote.
        self._poll(final=True)

    def _loop(self) -> None:
        while not self._stopped.wait(POLL_S):
            self._poll()

    def _poll(self, final: bool = False) -> None:
        with self._lock:
            if self._run_id is None:
                # A run-local instance holds exactly one run: the one execute_job created.
                ids = self._instance.get_run_ids(limit=1)
                if not ids:
                    return
                self._run_id = ids[0]
            while True:
                page = self._instance.get_records_for_run(self._run_id, cursor=self._cursor, limit=500)
                for record in page.records:
                    self._forward(record.event_log_entry)
                self._cursor = page.cursor
                if not page.has_more:
                    break
            if self._tail is not None:
                self._tail.poll(final)

    def _forward(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is not None and event.event_type is DagsterEventType.STEP_FAILURE and event.step_key:
            self.failures.append((event.step_key, event))
        if event is not None and event.event_type is DagsterEventType.RUN_FAILURE:
            self.run_failure = event.message or ""
        if event is not None and event.event_type is DagsterEventType.LOGS_CAPTURED and self._tail is not None:
            self._tail.captured(event.logs_captured_data.file_key)
        mapped = map_event(entry, self._forward_logs)
        if mapped is not None:
            self._emit(mapped.type, mapped.message, at=mapped.at)


def warm_up() -> None:
    """Run a no-op job once on a throw-away instance: what a standby run worker does while it waits.

    Dagster imports much of its execution machinery (storage, migrations, the plan) on a process's first run:
    ~0.5 s before the first step starts. A standby pays it before its run arrives, through the same
    `execute_job` of a reconstructable job as a run.
    """
    from longshoreman.dagster import warm_up_job

    with dg.DagsterInstance.ephemeral() as instance:
        dg.execute_job(dg.reconstructable(warm_up_job.longshoreman_warm_up), instance=instance)
