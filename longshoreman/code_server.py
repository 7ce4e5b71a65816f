"""`longshoreman code-server`: serves a module's definitions over HTTP for the agent.

GET /health → {"status": "ok"}; GET /definitions → contracts.locations.Definitions JSON.
Exit codes: 0 after SIGTERM/SIGINT, 2 if the module (or its Definitions) cannot be loaded, 3 if the
address cannot be bound.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from longshoreman.definitions import LoadError, load_definitions

EXIT_LOAD_ERROR = 2
EXIT_BIND_ERROR = 3


def _json_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class CodeServer(ThreadingHTTPServer):
    """A threading HTTP server that answers from a fixed table of JSON documents."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], documents: dict[str, bytes]) -> None:
        self.documents = documents
        super().__init__(address, _Handler)


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
        self._send(405, _json_body({"detail": "the code server only answers GET requests"}))

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The agent probes /health every second: logging each request would drown useful output.
        pass


def build_documents(module: str) -> dict[str, bytes]:
    """The JSON bodies the server answers with, computed once (LoadError if the module cannot load)."""
    definitions = load_definitions(module)
    return {"/health": _json_body({"status": "ok"}), "/definitions": _json_body(definitions.to_dict())}


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="longshoreman code-server", description="Serve a module's definitions.")
    parser.add_argument("--module", required=True, help="Python module holding one Definitions object")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Load the module, serve until SIGTERM/SIGINT, and return the process exit code."""
    args = _parse_args(argv)
    try:
        documents = build_documents(args.module)
    except LoadError as exc:
        print(exc.user_traceback(), end="", file=sys.stderr)
        print(f"longshoreman code-server: {exc}", file=sys.stderr, flush=True)
        return EXIT_LOAD_ERROR
    try:
        server = CodeServer((args.host, args.port), documents)
    except OSError as exc:
        print(f"longshoreman code-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_BIND_ERROR

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it must run outside the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    print(f"longshoreman code-server: serving {args.module} on http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    print("longshoreman code-server: stopped", flush=True)
    return 0
