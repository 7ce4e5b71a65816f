"""Fixtures of the kubernetes launcher tests: the launcher under test and the test's hand on the API."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from activities.launchers.kubernetes.launcher import KubernetesLauncher
from tests.support.kube import NAMESPACE, Cluster, KubeServer, launcher_settings

CONTROL_PLANE = "http://control-plane.longshoreman:8000"


@pytest.fixture
def cluster(kube: KubeServer) -> Iterator[Cluster]:
    """The controllers kmock lacks, played by the test through the API."""
    hand = Cluster(kube.url, NAMESPACE)
    yield hand
    hand.close()


@pytest.fixture
async def make_launcher(kube: KubeServer) -> AsyncIterator[Callable[..., KubernetesLauncher]]:
    """Build launchers on the emulator (each one is a fresh agent); all are closed afterwards."""
    made: list[KubernetesLauncher] = []

    def make(**overrides: Any) -> KubernetesLauncher:
        launcher = KubernetesLauncher(launcher_settings(kube, **overrides), control_plane_url=CONTROL_PLANE)
        made.append(launcher)
        return launcher

    yield make
    for launcher in made:
        await launcher.aclose()


class Tokens:
    """A token source that counts how often a launch asked for a token."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return f"run-token-{self.calls}-s3cr3t"


@pytest.fixture
def stand_in() -> Iterator[int]:
    """The network endpoint a ready pod would be: answers /health and /definitions on a free local port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"jobs": [{"name": "daily"}]}).encode() if self.path == "/definitions" else b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
