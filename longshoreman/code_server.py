"""`longshoreman code-server`: serves a module's definitions over HTTP for the agent.

GET /health → {"status": "ok"}; GET /definitions → contracts.locations.Definitions JSON; POST
/schedules/{name}/tick and /sensors/{name}/tick evaluate one tick of a schedule or sensor (the user's function
runs here, in the code server, never in the agent); POST /jobs/{name}/validate checks a run config with the
job's own framework: see contracts/code_server_protocol.py.
Exit codes: 0 after SIGTERM/SIGINT, 2 if the module (or its Definitions) cannot be loaded, 3 if the
address cannot be bound.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Protocol
from urllib.parse import unquote

from contracts.code_server_protocol import DEFINITIONS_PATH, HEALTH_PATH, ServerExitCode
from longshoreman.automations import failure
from longshoreman.definitions import Definitions, LoadError, load_definitions


class _Tickable(Protocol):
    def evaluate(self, *args: Any) -> dict[str, Any]: ...


class Served(Protocol):
    """What a code server serves: the SDK's Definitions, or a Dagster project's (longshoreman/dagster/)."""

    def to_dict(self) -> dict[str, Any]: ...
    def schedule(self, name: str) -> _Tickable | None: ...
    def sensor(self, name: str) -> _Tickable | None: ...
    def check_config(
        self, name: str, config: dict[str, Any], assets: list[str] | None = None, partition: str | None = None
    ) -> list[str] | None: ...


TICK_PATH = re.compile(r"^/(schedules|sensors)/([^/]+)/tick$")
VALIDATE_PATH = re.compile(r"^/jobs/([^/]+)/validate$")
MAX_TICK_BODY = 1 << 20


def _json_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class CodeServer(ThreadingHTTPServer):
    """A threading HTTP server: fixed JSON documents for GET, automation ticks evaluated for POST."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], documents: dict[str, bytes], definitions: Served | None = None
    ) -> None:
        self.documents = documents
        self.definitions: Served = definitions or Definitions()
        super().__init__(address, _Handler)


def evaluate_tick(definitions: Served, kind: str, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, answer) for one tick of schedule or sensor `name`; the user's errors are answers, not 500s."""
    if kind == "schedules":
        found_schedule = definitions.schedule(name)
        if found_schedule is None:
            return 404, {"error": f"this code server has no schedule {name!r}"}
        try:
            scheduled_time = datetime.fromisoformat(str(body.get("scheduled_time")))
        except ValueError:
            return 400, {"error": "scheduled_time must be an ISO 8601 time"}
        return 200, found_schedule.evaluate(scheduled_time)
    found_sensor = definitions.sensor(name)
    if found_sensor is None:
        return 404, {"error": f"this code server has no sensor {name!r}"}
    cursor, last = body.get("cursor"), body.get("last_tick_time")
    if cursor is not None and not isinstance(cursor, str):
        return 400, {"error": "cursor must be a string or null"}
    try:
        last_tick_time = datetime.fromisoformat(last) if isinstance(last, str) else None
    except ValueError:
        return 400, {"error": "last_tick_time must be an ISO 8601 time or null"}
    return 200, found_sensor.evaluate(cursor, last_tick_time)


def check_config(definitions: Served, job: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, answer) for a config check of job `job`: {"valid", "errors"} with the framework's messages."""
    config, assets, partition = body.get("config", {}), body.get("assets"), body.get("partition")
    if not isinstance(config, dict):
        return 200, {"valid": False, "errors": ["the run config must be a JSON object"]}
    if assets is not None and not (isinstance(assets, list) and all(isinstance(a, str) for a in assets)):
        return 400, {"error": "assets must be a list of asset keys or null"}
    if partition is not None and not isinstance(partition, str):
        return 400, {"error": "partition must be a string or null"}
    errors = definitions.check_config(job, config, assets, partition)
    if errors is None:
        return 404, {"error": f"this code server has no job {job!r}"}
    return 200, {"valid": not errors, "errors": errors}


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the agent's probe connection alive between health checks.
    protocol_version = "HTTP/1.1"
    server: CodeServer

    def do_GET(self) -> None:
        body = self.server.documents.get(self.path.split("?", 1)[0])
        if body is None:
            self._send(404, _json_body({"detail": f"not found: {self.path}"}))
        else:
            self._send(200, body)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        match = TICK_PATH.match(path)
        validate = VALIDATE_PATH.match(path)
        if match is None and validate is None:
            self._refuse()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_TICK_BODY:
            self._send(413, _json_body({"error": f"a tick request holds at most {MAX_TICK_BODY} bytes"}))
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send(400, _json_body({"error": "the body must be a JSON object"}))
            return
        if validate is not None:
            status, checked = check_config(self.server.definitions, unquote(validate.group(1)), body)
            self._send(status, _json_body(checked))
            return
        assert match is not None
        status, answer = evaluate_tick(self.server.definitions, match.group(1), match.group(2), body)
        try:
            encoded = _json_body(answer)
        except (TypeError, ValueError) as exc:  # a config or tag the user's function returned is not JSON
            encoded = _json_body(failure(ValueError(f"the answer of {match.group(2)!r} is not JSON: {exc}")))
        self._send(status, encoded)

    def _refuse(self) -> None:
        self._send(
            405, _json_body({"detail": "the code server answers GET, and POST for automation ticks and config checks"})
        )

    do_PUT = do_DELETE = do_PATCH = _refuse

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The agent probes /health every second: logging each request would drown useful output.
        pass


def build_documents(definitions: Served) -> dict[str, bytes]:
    """The JSON bodies the server answers GET requests with, computed once."""
    return {HEALTH_PATH: _json_body({"status": "ok"}), DEFINITIONS_PATH: _json_body(definitions.to_dict())}


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="longshoreman code-server", description="Serve a module's definitions.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--module", help="Python module holding one Definitions object")
    target.add_argument("--python-file", help="instead of --module: a Python file holding one Definitions object")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--framework",
        choices=("longshoreman", "dagster"),
        default="longshoreman",
        help="what the module is written against: our SDK (default) or Dagster (a dagster.Definitions)",
    )
    return parser.parse_args(argv)


def load_served(module: str | None, framework: str, python_file: str | None = None) -> Served:
    """The definitions of the module (or the file) for `framework` (LoadError if they cannot be loaded)."""
    if framework != "dagster":
        return load_definitions(module or "", python_file)
    try:
        from longshoreman.dagster.catalog import DagsterCatalog
        from longshoreman.dagster.loader import load, load_file
    except ImportError as exc:
        raise LoadError(
            f"framework dagster needs dagster in this environment (pip install 'longshoreman[dagster]'): {exc}"
        ) from None
    loaded = load_file(python_file) if python_file is not None else load(module or "")
    try:
        return DagsterCatalog(loaded)
    except Exception as exc:
        what = f"file {python_file!r}" if python_file is not None else repr(module)
        raise LoadError(
            f"the Definitions in {what} cannot be described: {type(exc).__name__}: {exc}", loaded.module
        ) from exc


def main(argv: list[str]) -> int:
    """Load the module, serve until SIGTERM/SIGINT, and return the process exit code."""
    args = _parse_args(argv)
    try:
        definitions = load_served(args.module, args.framework, args.python_file)
        documents = build_documents(definitions)
    except LoadError as exc:
        print(exc.user_traceback(), end="", file=sys.stderr)
        print(f"longshoreman code-server: {exc}", file=sys.stderr, flush=True)
        return ServerExitCode.LOAD_FAILED
    try:
        server = CodeServer((args.host, args.port), documents, definitions)
    except OSError as exc:
        print(f"longshoreman code-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return ServerExitCode.BIND_FAILED

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it must run outside the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    served = args.module or args.python_file
    print(f"longshoreman code-server: serving {served} on http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    print("longshoreman code-server: stopped", flush=True)
    return ServerExitCode.STOPPED
