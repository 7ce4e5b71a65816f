"""A throw-away PostgreSQL cluster for tests and benchmarks: `initdb` under a temp dir, a free port, removed after.

`initdb` and `postgres` refuse to run as root: as root (CI, this machine) they run as the `postgres` system user
that Debian's package creates, through `runuser`. Install the server with scripts/postgres/ensure-installed.sh.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from longshoreman.dev.temporal_server import free_port

HOW_TO_INSTALL = "install it with scripts/postgres/ensure-installed.sh (as root: apt-get install postgresql)"
SYSTEM_USER = "postgres"
SUPERUSER = "longshoreman"
# Speed over durability for tests (a crash loses a throw-away cluster anyway); benchmarks keep the defaults.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def server_bin_dir() -> Path | None:
    """Where `initdb`, `pg_ctl` and `postgres` are (Debian: /usr/lib/postgresql/<version>/bin), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: [int(part) for part in Path(path).parts[4].split(".") if part.isdigit()],
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def server_problem() -> str | None:
    """Why no throw-away cluster can be made here, or None."""
    if importlib.util.find_spec("psycopg") is None:
        return "the psycopg driver is not installed (pip install -e '.[dev]')"
    if server_bin_dir() is None:
        return "no PostgreSQL server binaries (initdb) on this machine"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root, and there is no '{SYSTEM_USER}' system user to run PostgreSQL as"
    return None


@dataclass
class PostgresCluster:
    """One running throw-away cluster on 127.0.0.1 (password authentication, like a real server)."""

    durable: bool = False  # True: PostgreSQL's default fsync and commit settings (benchmarks)
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    root: Path | None = None
    _databases: int = 0

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        assert self.root is not None
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` (psycopg 3)."""
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout_s: float = 60.0) -> None:
        bin_dir = server_bin_dir()
        assert bin_dir is not None, HOW_TO_INSTALL
        command = [str(bin_dir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")

    def start(self) -> PostgresCluster:
        """initdb, then start the server and wait until it accepts connections."""
        # Not under pytest's tmp dirs: those are root's, mode 0700, and the server runs as another user.
        self.root = Path(tempfile.mkdtemp(prefix="longshoreman-pg-"))
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if os.geteuid() == 0:
            account = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            os.chown(password_file, account.pw_uid, account.pw_gid)
        try:
            self._run(
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(password_file),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                *([] if self.durable else ["--no-sync"]),
            )
            settings = {
                "listen_addresses": "127.0.0.1",
                "port": str(self.port),
                "unix_socket_directories": str(self.root),
                "max_connections": "200",
                **({} if self.durable else FAST_SETTINGS),
            }
            options = " ".join(f"-c {key}={value}" for key, value in settings.items())
            self._run(
                "pg_ctl", "start", "--wait", "--pgdata", str(self.data_dir), "--log", str(self.log_file), "-o", options
            )
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def log_file(self) -> Path:
        """The server's log."""
        assert self.root is not None
        return self.root / "server.log"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        self._databases += 1
        name = f"{prefix}_{self._databases}_{secrets.token_hex(3)}"
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove the cluster's directory."""
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "--wait", "--mode", "fast", "--pgdata", str(self.data_dir))
            except (RuntimeError, subprocess.TimeoutExpired):
                # Clients still connected past the timeout: cut them off.
                self._run("pg_ctl", "stop", "--wait", "--mode", "immediate", "--pgdata", str(self.data_dir))
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
