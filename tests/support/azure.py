"""Azure Blob Storage for tests: Azurite (scripts/azurite/install.sh, from npm) on a free loopback port.

Azurite speaks the Blob service's REST API; the tests reach it with azure-storage-blob over real HTTP, as an
account whose key is made for this session (AZURITE_ACCOUNTS), signed like any storage-account request.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.agent import REPO_ROOT

AZURITE = REPO_ROOT / "build" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
HOW_TO_GET = "run scripts/azurite/install.sh (make azurite) to install Azurite from npm"
ACCOUNT = "lstestaccount"


class Azurite:
    """azurite-blob in a temporary directory; stopped and removed afterwards."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.account_url = f"http://127.0.0.1:{self.port}/{ACCOUNT}"
        self._key = base64.b64encode(secrets.token_bytes(64)).decode()
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self._key};"
            f"BlobEndpoint={self.account_url};"
        )
        self._dir = Path(tempfile.mkdtemp(prefix="azurite-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> Azurite:
        command = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(self._dir)]
        command += ["--silent", "--skipApiVersionCheck", "--loose"]
        log = open(self._dir / "azurite.log", "wb")
        self._process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"AZURITE_ACCOUNTS": f"{ACCOUNT}:{self._key}"},
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"azurite exited: {(self._dir / 'azurite.log').read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"azurite did not listen on port {self.port} within {timeout_s:g} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


def azurite_server() -> Iterator[Azurite]:
    """One Azurite for the session."""
    server = Azurite().start()
    yield server
    server.stop()
