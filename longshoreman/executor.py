"""`longshoreman execute-run`: runs one attempt of one job and reports it to the control plane.

Everything comes from the LONGSHOREMAN_RUN_* environment and every exit code means what
contracts/run_protocol.py says (RunWorkerEnv, ExitCode): 0 the job succeeded, 1 it raised, 2 its module or job
could not be loaded (or the environment is invalid), 128 + signal number when canceled by SIGTERM (143) or SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from contracts.run_protocol import (
    PRELOAD_VAR,
    SIGNAL_EXIT_BASE,
    TOKEN_VAR,
    EventType,
    ExitCode,
    RunEnvError,
    RunWorkerEnv,
    canceled_exit_code,
)
from longshoreman.definitions import Job, JobContext, LoadError, load_job
from longshoreman.run_capture import LineSink, StdioCapture

if TYPE_CHECKING:
    from longshoreman.compute_logs.writer import LogStoreWriter

MAX_MESSAGE = 64_000
MAX_TERMINATION_MESSAGE = 1_000
_OWN_FILES = frozenset({__file__, sys.modules[Job.__module__].__file__})


class RunCanceled(BaseException):
    """Raised in the job's thread on SIGTERM/SIGINT; a BaseException so `except Exception` lets it through."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"canceled by {signal.Signals(signum).name}")
        self.signum = signum


class Sender(Protocol):
    """Where the executor records events and log lines (event_sender.RunEventSender, or nowhere)."""

    rejected: dict[str, int]

    def start(self) -> None: ...
    def event(self, type: str, message: str = "", at: float | None = None) -> None: ...
    def log(self, stream: str, line: str, at: float) -> None: ...
    def close(self, timeout_s: float) -> bool: ...
    def pending(self) -> tuple[int, int]: ...


class _NoSender:
    """Stands in for the sender when no control plane is configured (a run started by hand)."""

    def __init__(self) -> None:
        self.rejected = {"events": 0, "lines": 0}

    def start(self) -> None:
        pass

    def event(self, type: str, message: str = "", at: float | None = None) -> None:
        pass

    def log(self, stream: str, line: str, at: float) -> None:
        pass

    def close(self, timeout_s: float) -> bool:
        return True

    def pending(self) -> tuple[int, int]:
        return 0, 0


class RunExecutor:
    """Loads the job, runs it with captured output and reports its lifecycle as events."""

    def __init__(self, settings: RunWorkerEnv) -> None:
        self.settings = settings
        self._stderr = sys.stderr
        self._sender: Sender = _NoSender()
        if settings.control_plane_url and settings.token:
            from longshoreman.event_sender import RunEventSender

            self._sender = RunEventSender(
                settings.control_plane_url, settings.run_id, settings.attempt, settings.token, warn=self._warn
            )
        self._store: LogStoreWriter | None = None
        if settings.log_store:
            self._store = self._open_store(settings.log_store)
        self._cancelable = False
        self._canceled_by: int | None = None
        self.ignore_late_signals = False

    def execute(self) -> int:
        """Run the attempt end to end and return the process exit code."""
        s = self.settings
        self._sender.start()
        if self._store is not None:
            self._store.start()
        self._sender.event(EventType.RUN_START, f"attempt {s.attempt} of run {s.run_id} (pid {os.getpid()})")
        capture = StdioCapture(self._line_sink())
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._cancelable = True
            code = self._load_and_run()
        except RunCanceled as exc:
            self._cancelable = False
            print(f"longshoreman execute-run: {exc}", file=sys.stderr)
            self._sender.event(EventType.JOB_CANCELED, str(exc))
            code = canceled_exit_code(exc.signum)
        finally:
            self._cancelable = False
            capture.restore()
        if self._store is not None and not self._store.close(s.flush_timeout_s):
            self._warn(f"could not write {self._store.pending()} log lines to {self._store.location()}")
        if not self._sender.close(s.flush_timeout_s):
            events, lines = self._sender.pending()
            self._warn(f"could not deliver {events} events and {lines} log lines to the control plane")
        rejected = self._sender.rejected
        if rejected["events"] or rejected["lines"]:
            self._warn(f"the control plane refused {rejected['events']} events and {rejected['lines']} log lines")
        for sig, handler in previous.items():
            # A finished job's outcome is recorded: in the process of its own (main()), a late SIGTERM (a cancel
            # racing the completion) must not turn its exit into "killed by SIGTERM", contradicting its events.
            signal.signal(sig, signal.SIG_IGN if self.ignore_late_signals and code < SIGNAL_EXIT_BASE else handler)
        return code

    def _load_failed(self, exc: LoadError) -> int:
        print(exc.user_traceback(), end="", file=sys.stderr)
        print(f"longshoreman execute-run: {exc}", file=sys.stderr)
        # Without log forwarding, what an import raised stays with the logs: it may quote anything.
        message = str(exc) if self.settings.forward_logs else "the job could not be loaded: see the compute logs"
        self._sender.event(EventType.LOAD_FAILURE, _truncate(message, MAX_MESSAGE))
        self._write_termination(message)
        return ExitCode.LOAD_FAILED

    def _load_and_run(self) -> int:
        s = self.settings
        if s.framework == "dagster":
            return self._run_dagster()
        try:
            job = load_job(s.module, s.job, s.python_file)
            config = job.resolve_config(s.config)
        except LoadError as exc:
            return self._load_failed(exc)
        context = JobContext(
            run_id=s.run_id,
            attempt=s.attempt,
            job_name=job.name,
            config=config,
            tags=s.tags,
            event_sink=self._sender.event,
        )
        self._sender.event(EventType.JOB_START, job.name)
        if s.started_file:
            self._write_file(s.started_file, "")
        return self._call(job, context)

    def _run_dagster(self) -> int:
        """The job of a Dagster location, run by Dagster (longshoreman/dagster/run.py)."""
        s = self.settings
        started = time.monotonic()
        try:
            try:
                from longshoreman.dagster.run import DagsterRun
            except ImportError as exc:
                raise LoadError(
                    f"framework dagster needs dagster in this image (pip install 'longshoreman[dagster]'): {exc}"
                ) from None
            # The step processes' output reaches the same places as this process's: none, none to tail.
            wanted = s.forward_logs or self._store is not None
            run = DagsterRun(s, self._sender.event, self._line_sink() if wanted else None)
        except LoadError as exc:
            return self._load_failed(exc)
        self._sender.event(EventType.JOB_START, s.job)
        if s.started_file:
            self._write_file(s.started_file, "")
        try:
            outcome = run.execute()
        finally:
            self._cancelable = False
        if outcome.interrupted or (self._canceled_by is not None and not outcome.success):
            # While it runs, Dagster handles SIGTERM and SIGINT itself: it interrupts the step (its multiprocess
            # executor stops its children), fails it with DagsterExecutionInterruptedError and ends the run. That
            # was the cancel (the launcher's SIGTERM), not the job's failure.
            raise RunCanceled(self._canceled_by or signal.SIGTERM)
        if outcome.success:
            self._sender.event(EventType.JOB_SUCCESS, f"job {s.job} succeeded in {time.monotonic() - started:.3f} s")
            return ExitCode.SUCCESS
        summary, detail = outcome.summary, outcome.detail
        print(f"longshoreman execute-run: {summary}", file=sys.stderr)
        if not s.forward_logs:
            # The error's text is user output: only where it happened leaves the environment.
            summary, detail = summary.split(":", 1)[0] + " (the error is in the compute logs)", ""
        self._sender.event(EventType.JOB_FAILURE, _truncate(f"{summary}\n{detail}".rstrip(), MAX_MESSAGE))
        self._write_termination(summary)
        return ExitCode.JOB_FAILED

    def _call(self, job: Job, context: JobContext) -> int:
        started = time.monotonic()
        error: BaseException | None = None
        try:
            job.run(context)
        except RunCanceled:
            raise
        except BaseException as exc:
            error = exc
        finally:
            # From here on a signal must not turn a finished job into a canceled one.
            self._cancelable = False
        if isinstance(error, SystemExit) and error.code in (None, 0):
            error = None
        if error is not None:
            return self._failed(error)
        self._sender.event(EventType.JOB_SUCCESS, f"job {job.name} succeeded in {time.monotonic() - started:.3f} s")
        return ExitCode.SUCCESS

    def _failed(self, exc: BaseException) -> int:
        import traceback

        # The traceback should start in the user's job, not in the executor calling it.
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES:
            tb = tb.tb_next
        summary = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        trace = "".join(traceback.format_exception(type(exc), exc, tb))
        print(trace, end="", file=sys.stderr)
        if not self.settings.forward_logs:
            # The exception's message and traceback are user output: only its type leaves the environment.
            summary = f"{type(exc).__name__} (message and traceback in the compute logs)"
            trace = ""
        self._sender.event(EventType.JOB_FAILURE, _truncate(f"{summary}\n{trace}".rstrip(), MAX_MESSAGE))
        self._write_termination(summary)
        return ExitCode.JOB_FAILED

    def _line_sink(self) -> LineSink:
        """Where captured lines go: the control plane (log forwarding), the log store, both, or neither."""
        sinks: list[LineSink] = [self._sender.log] if self.settings.forward_logs else []
        if self._store is not None:
            sinks.append(self._store.log)
        if len(sinks) == 1:
            return sinks[0]

        def fan_out(stream: str, line: str, at: float) -> None:
            for sink in sinks:
                sink(stream, line, at)

        return fan_out

    def _open_store(self, url: str) -> LogStoreWriter | None:
        from longshoreman.compute_logs.stores import StoreError, open_store
        from longshoreman.compute_logs.writer import LogStoreWriter

        s = self.settings
        try:
            where, store = open_store(url)
        except StoreError as exc:
            self._warn(f"no compute-log store: {exc}; the output stays in this worker's stdout and stderr")
            return None

        def dropped(count: int) -> None:
            self._sender.event(EventType.LOGS_DROPPED, f"{count} log lines were dropped while the log store failed")

        return LogStoreWriter(where, store, s.run_id, s.attempt, warn=self._warn, on_dropped=dropped)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Cancel only while user code may run; a signal during the final flush must not interrupt it.
        if self._canceled_by is None:
            self._canceled_by = signum
            if self._cancelable:
                self._cancelable = False
                raise RunCanceled(signum)

    def _write_termination(self, message: str) -> None:
        if self.settings.termination_file:
            line = _truncate(" ".join(message.split()), MAX_TERMINATION_MESSAGE, marker=" [...] ")
            self._write_file(self.settings.termination_file, line + "\n")

    def _write_file(self, path: str, content: str) -> None:
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(content)
        except OSError as exc:
            self._warn(f"could not write {path}: {exc}")

    def _warn(self, message: str) -> None:
        # The real stderr, not the captured one: the sender's own warnings are not log lines of the run.
        try:
            print(f"longshoreman execute-run: {message}", file=self._stderr, flush=True)
        except OSError:
            pass  # a full disk under the log file must not kill the thread that delivers the run's events


def _await_run() -> bool:
    """Standby: started before its run, wait for it; False if none comes (stdin closed).

    The process launcher starts a run worker ahead of its run, so that a run does not wait for Python to
    start and this package to load: the run's LONGSHOREMAN_* environment and the file to write output to
    arrive as one JSON line on stdin.
    """
    from longshoreman import event_sender, plain_http  # noqa: F401 - loaded now, while nothing waits

    _preload(os.environ.get(PRELOAD_VAR, ""))
    line = sys.stdin.buffer.readline()
    if not line:
        return False
    order = json.loads(line)
    os.environ.update(order["env"])
    output = os.open(order["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for fd in (1, 2):
        os.dup2(output, fd)
    os.close(output)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return True


def _preload(framework: str) -> None:
    """Prepare what a standby of a Dagster location's runs will need: dagster imported, its first run done."""
    if framework != "dagster":
        return
    try:
        from longshoreman.dagster.run import warm_up

        warm_up()
    except Exception:  # the run itself imports dagster again and reports what is wrong
        pass


def _truncate(text: str, limit: int, marker: str = "\n[... truncated ...]\n") -> str:
    """`text` cut in the middle to at most `limit` characters: its start and its end are what people read."""
    if len(text) <= limit:
        return text
    half = (limit - len(marker)) // 2
    return f"{text[:half]}{marker}{text[-half:]}"


def main(argv: list[str]) -> int:
    """Entry point of `longshoreman execute-run`: returns the process exit code."""
    if argv == ["--standby"]:
        if not _await_run():
            return 0
    elif argv:
        print("longshoreman execute-run takes no arguments: it reads LONGSHOREMAN_RUN_* variables", file=sys.stderr)
        return ExitCode.LOAD_FAILED
    try:
        settings = RunWorkerEnv.from_env(os.environ)
    except RunEnvError as exc:
        print(f"longshoreman execute-run: {exc}", file=sys.stderr)
        return ExitCode.LOAD_FAILED
    # The job needs no token; keeping it out of its environment keeps it out of env dumps and subprocesses.
    os.environ.pop(TOKEN_VAR, None)
    if settings.control_plane_url is None:
        print("longshoreman execute-run: no control plane configured: events and logs are not sent", file=sys.stderr)
    executor = RunExecutor(settings)
    executor.ignore_late_signals = True
    code = executor.execute()
    if code > SIGNAL_EXIT_BASE:
        # Canceled: exit now even if the job left non-daemon threads behind.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
