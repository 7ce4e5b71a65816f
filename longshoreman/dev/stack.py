"""The embedded dev stack: a Temporal dev server, the control plane and one agent as local processes.

Used by `longshoreman dev`, the launch-latency benchmark and the tests. Every component runs in its own
session (so a Ctrl-C in the terminal reaches only `longshoreman dev`, which then stops them in order) and
logs to `<state-dir>/logs/<component>.log`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from contracts.api import LocationView, RedeployBody, TokenCreate, TokenCreated
from contracts.locations import LocationSpec
from contracts.search_attributes import dev_server_flags
from contracts.statuses import LocationStatus
from longshoreman.cli.api_client import ApiClient, ApiError, CliError
from longshoreman.cli.settings import Credentials
from longshoreman.dev.processes import (
    ManagedProcess,
    StackError,
    prune_agent_state,
    recorded_processes,
    stop_recorded,
)
from longshoreman.dev.temporal_server import TemporalDevServer, free_port
from runtime.codec import KEY_FILE_ENV, KeyConfigError, KeyRing, generate_keyring

EXAMPLE_NAME = "hello"
EXAMPLE_MODULE = "examples.hello.definitions"
ENV_PREFIX = "LONGSHOREMAN_"


def port_is_free(port: int) -> bool:
    """True when nothing is bound to 127.0.0.1:port."""
    with socket.socket() as sock:
        # As the servers do: connections of a previous run lingering in TIME_WAIT must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def example_working_dir() -> Path:
    """The directory `examples.hello` is importable from (the repository root), else the current directory."""
    spec = importlib.util.find_spec("examples")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve().parent
    return Path.cwd()


def load_or_create_credentials(path: Path, url: str) -> Credentials:
    """Reuse the admin token kept in `path` (so re-runs keep working), else generate one; store it with `url`."""
    token = None
    with contextlib.suppress(OSError, ValueError):
        token = Credentials.model_validate(json.loads(path.read_text())).token.get_secret_value()
    creds = Credentials.model_validate({"url": url, "token": token or secrets.token_urlsafe(32)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Created 0600 from the start: the admin token must never be readable by other users, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": creds.url, "token": creds.token.get_secret_value()}, out)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return creds


def load_or_create_keys(path: Path) -> Path:
    """Keep the payload key ring in `path` (mode 0600) across runs, so old histories stay readable; create it once."""
    if path.exists():
        try:
            KeyRing.parse(path.read_text())
            return path
        except (OSError, KeyConfigError) as exc:
            raise StackError(f"{path} holds no valid payload key ({exc}); fix or delete it") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Payload encryption keys of this dev stack: the first encrypts, all decrypt. Keep it secret.\n")
        out.write(generate_keyring(["dev-1"]).format())
    return path


@dataclass
class DevStackConfig:
    """Where the stack keeps its state and which ports it listens on (0 = any free port)."""

    state_dir: Path = Path(".longshoreman")
    port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    metrics_port: int = 0
    task_queue: str = "longshoreman"
    agent_name: str = "dev-agent"
    startup_timeout_s: float = 60.0
    loaded_timeout_s: float = 120.0
    agent_env: dict[str, str] = field(default_factory=dict)  # extra LONGSHOREMAN_* settings (benchmarks)
    database_url: str | None = None  # the control plane's database; default: a SQLite file in the state dir
    # Extra LONGSHOREMAN_TEMPORAL__* settings of the control plane and the agent, over the dev server's address
    # (benchmarks: Temporal behind a TLS endpoint).
    temporal_env: dict[str, str] = field(default_factory=dict)


@dataclass
class DevStack:
    """Temporal dev server + control plane + one agent (process launcher), all with state in `state_dir`."""

    config: DevStackConfig = field(default_factory=DevStackConfig)
    say: Callable[[str], None] = lambda message: None
    temporal: TemporalDevServer | None = None
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    credentials: Credentials | None = None
    example_deployed: bool = False

    def __post_init__(self) -> None:
        self.state_dir = self.config.state_dir.resolve()
        self.port = self.config.port or free_port()
        self.metrics_port = self.config.metrics_port or free_port()

    @property
    def url(self) -> str:
        """Base URL of the control plane."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        """URL of the Temporal Web UI."""
        return self.temporal.ui_url if self.temporal else f"http://127.0.0.1:{self.config.ui_port}"

    @property
    def logs_dir(self) -> Path:
        """Where each component's log file lives."""
        return self.state_dir / "logs"

    @property
    def agent_state_dir(self) -> Path:
        """The agent's state dir: one subdirectory (with a handle.json) per code server and run worker."""
        return self.state_dir / "agent"

    @property
    def key_file(self) -> Path:
        """The payload encryption keys the control plane, the agent and `longshoreman replay` use."""
        return self.state_dir / "encryption-keys"

    @property
    def metrics_url(self) -> str:
        """The agent's Prometheus endpoint (the control plane's is at <url>/metrics)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def credentials_file(self) -> Path:
        """The {"url", "token"} file the CLI reads."""
        return self.state_dir / "credentials.json"

    @property
    def admin_token(self) -> str:
        """The admin token the control plane was started with."""
        if self.credentials is None:
            raise StackError("the dev stack is not started")
        return self.credentials.token.get_secret_value()

    def client(self, timeout_s: float = 30.0) -> ApiClient:
        """An admin client of the stack's control plane."""
        return ApiClient(self.url, self.admin_token, timeout_s)

    def __enter__(self) -> DevStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- start ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start Temporal, then the control plane, then the agent; raise StackError naming what failed."""
        cfg = self.config
        for what, port in (("control plane", self.port), ("Temporal", cfg.temporal_port), ("Web UI", cfg.ui_port)):
            if port and not port_is_free(port):
                raise StackError(f"port {port} ({what}) is already in use: is another `longshoreman dev` running?")
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.agent_state_dir.mkdir(parents=True, exist_ok=True)
        prune_agent_state(self.agent_state_dir)
        self.credentials = load_or_create_credentials(self.credentials_file, self.url)
        load_or_create_keys(self.key_file)
        self._start_temporal()
        self._start_control_plane()
        self._start_agent()

    def _start_temporal(self) -> None:
        cfg = self.config
        log = self.logs_dir / "temporal.log"
        self.say(f"starting the Temporal dev server (log: {log})")
        self.temporal = TemporalDevServer(
            db_file=self.state_dir / "temporal.db",
            port=cfg.temporal_port,
            ui_port=cfg.ui_port,
            log_file=log,
            search_attributes=dev_server_flags(),
            # The Web UI decodes payloads through the control plane's codec endpoint (admin cookie, see README).
            ui_codec_endpoint=f"{self.url}/codec",
        )
        try:
            self.temporal.start(timeout_s=cfg.startup_timeout_s)
        except (RuntimeError, TimeoutError, OSError) as exc:
            raise StackError(f"the Temporal dev server did not start: {exc} (log: {log})") from exc

    def _base_env(self) -> dict[str, str]:
        # Inherited LONGSHOREMAN_* variables (a CLI token, another database URL...) must not leak into the stack.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env["PYTHONUNBUFFERED"] = "1"
        assert self.temporal is not None
        env[ENV_PREFIX + "TEMPORAL__ADDRESS"] = self.temporal.address
        env[ENV_PREFIX + "TEMPORAL__NAMESPACE"] = "default"
        env[KEY_FILE_ENV] = str(self.key_file)
        return env | self.config.temporal_env

    @property
    def database_url(self) -> str:
        """The control plane's database."""
        return self.config.database_url or f"sqlite:///{self.state_dir / 'controlplane.db'}"

    def _migrate_database(self) -> None:
        # The stack's own database follows the code it runs, as `longshoreman control-plane migrate` would.
        from sqlalchemy.exc import SQLAlchemyError

        from controlplane import schema
        from controlplane.database import Database, DatabaseConfigError, describe_error

        try:
            db = Database(self.database_url)
        except DatabaseConfigError as exc:
            raise StackError(f"the control plane's database: {exc}") from None
        try:
            done = schema.migrate(db)
        except schema.SchemaError as exc:
            raise StackError(f"the control plane's database: {exc}") from None
        except SQLAlchemyError as exc:
            raise StackError(describe_error(db.url, exc)) from None
        finally:
            db.dispose()
        if done.before is not None and done.changed:
            self.say(f"migrated the control plane's database from revision {done.before} to {done.after}")

    def _start_control_plane(self) -> None:
        assert self.temporal is not None
        self._migrate_database()
        env = self._base_env() | {
            ENV_PREFIX + "DATABASE_URL": self.database_url,
            ENV_PREFIX + "HOST": "127.0.0.1",
            ENV_PREFIX + "PORT": str(self.port),
            ENV_PREFIX + "TEMPORAL_UI_URL": self.temporal.ui_url,
            ENV_PREFIX + "ADMIN_TOKEN": self.admin_token,
        }
        log = self.logs_dir / "controlplane.log"
        self.say(f"starting the control plane on {self.url} (log: {log})")
        proc = ManagedProcess.start("control plane", [sys.executable, "-m", "controlplane"], env, log)
        self.processes["controlplane"] = proc
        deadline = time.monotonic() + self.config.startup_timeout_s
        with self.client(timeout_s=2.0) as client:
            while True:
                if not proc.alive():
                    raise proc.died()
                try:
                    client.request("GET", "/api/health")
                    return
                except ApiError:
                    if time.monotonic() > deadline:
                        raise StackError(f"the control plane did not answer on {self.url} (log: {log})") from None
                    time.sleep(0.1)

    def _start_agent(self) -> None:
        with self.client() as client:
            body = TokenCreate(kind="agent", name=self.config.agent_name, queues=[self.config.task_queue])
            agent_token = client.send("POST", "/api/tokens", body, TokenCreated).token
        env = self._base_env() | {
            ENV_PREFIX + "TASK_QUEUE": self.config.task_queue,
            ENV_PREFIX + "CONTROL_PLANE_URL": self.url,
            ENV_PREFIX + "AGENT_TOKEN": agent_token,
            ENV_PREFIX + "STATE_DIR": str(self.agent_state_dir),
            ENV_PREFIX + "AGENT_NAME": self.config.agent_name,
            ENV_PREFIX + "METRICS_ADDRESS": f"127.0.0.1:{self.metrics_port}",
        }
        env |= self.config.agent_env
        log = self.logs_dir / "agent.log"
        self.say(f"starting the agent on task queue {self.config.task_queue!r} (log: {log})")
        self.processes["agent"] = ManagedProcess.start("agent", [sys.executable, "-m", "agent"], env, log)

    def check_alive(self) -> None:
        """Raise StackError if a component has exited."""
        for proc in self.processes.values():
            if not proc.alive():
                raise proc.died()
        if self.temporal and self.temporal.process and self.temporal.process.poll() is not None:
            code = self.temporal.process.returncode
            raise StackError(f"the Temporal dev server exited with code {code} (log: {self.logs_dir / 'temporal.log'})")

    # ---- the example location ---------------------------------------------------------------------

    def example_spec(self) -> LocationSpec:
        """The spec of examples/hello on the process launcher."""
        return LocationSpec(
            name=EXAMPLE_NAME,
            module=EXAMPLE_MODULE,
            launcher="process",
            working_dir=str(example_working_dir()),
            agent_queue=self.config.task_queue,
        )

    def deploy_example(self) -> LocationView:
        """Deploy examples/hello (a fresh generation if it exists already) and wait until it is LOADED."""
        spec = self.example_spec()
        self.say(f"deploying the example location {spec.name!r} ({spec.code_target()})")
        with self.client() as client:
            try:
                current: LocationView | None = client.get(f"/api/locations/{spec.name}", LocationView)
            except ApiError as exc:
                if exc.status_code != 404:
                    raise
                current = None
            if current is None or current.status is LocationStatus.STOPPED:
                view = client.send("POST", "/api/locations", spec, LocationView)
                min_generation = view.generation
            else:
                # Left over from a session that did not stop cleanly: its code server is gone, so roll a new one.
                client.send("POST", f"/api/locations/{spec.name}/redeploy", RedeployBody(spec=spec), LocationView)
                min_generation = current.generation + 1
            self.example_deployed = True
            return self.wait_loaded(client, spec.name, min_generation)

    def wait_loaded(self, client: ApiClient, name: str, min_generation: int = 0) -> LocationView:
        """Poll a location until it is LOADED at `min_generation` or later; ERROR, timeout or a dead component raise."""
        deadline = time.monotonic() + self.config.loaded_timeout_s
        while True:
            self.check_alive()
            view = client.get(f"/api/locations/{name}", LocationView)
            if view.generation >= min_generation:
                if view.status is LocationStatus.LOADED:
                    return view
                if view.status is LocationStatus.ERROR:
                    raise StackError(f"location {name} failed to load: {view.message or 'no message'}")
            if time.monotonic() > deadline:
                raise StackError(
                    f"location {name} is still {view.status} after {self.config.loaded_timeout_s:.0f} s"
                    f" (logs: {self.logs_dir})"
                )
            time.sleep(0.2)

    # ---- stop -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop all it started: the example, the agent and its servers and workers, the control plane, Temporal."""
        if self.example_deployed:
            self._remove_example()
        agent = self.processes.pop("agent", None)
        if agent is not None:
            self.say("stopping the agent")
            agent.stop(grace_s=15.0)
        # The process launcher starts servers and workers in their own sessions so they survive an agent
        # restart; here nothing may survive, so stop every one the agent recorded.
        for process in recorded_processes(self.agent_state_dir):
            if stop_recorded(process, grace_s=5.0):
                self.say(f"stopped leftover process {process.pid}")
        controlplane = self.processes.pop("controlplane", None)
        if controlplane is not None:
            self.say("stopping the control plane")
            controlplane.stop()
        if self.temporal is not None:
            self.say("stopping the Temporal dev server")
            self.temporal.stop()
            self.temporal = None

    def _remove_example(self) -> None:
        self.example_deployed = False
        if any(not proc.alive() for proc in self.processes.values()):
            return
        self.say(f"removing the example location {EXAMPLE_NAME!r}")
        try:
            with self.client(timeout_s=5.0) as client:
                client.send("DELETE", f"/api/locations/{EXAMPLE_NAME}", None, LocationView)
                deadline = time.monotonic() + 15.0
                while time.monotonic() < deadline:
                    view = client.get(f"/api/locations/{EXAMPLE_NAME}", LocationView)
                    if view.status is LocationStatus.STOPPED:
                        return
                    time.sleep(0.2)
        except CliError as exc:
            self.say(f"could not remove the example location cleanly: {exc}")
