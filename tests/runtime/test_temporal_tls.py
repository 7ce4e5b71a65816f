"""Connecting to a secured Temporal: the agent and the control plane through TLS and mTLS (a real dev server behind
a TLS endpoint made here), and wrong settings that stop a process at start with one readable line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from longshoreman.dev.temporal_server import TemporalDevServer, free_port
from tests.support.agent import REPO_ROOT, AgentProcess
from tests.support.control_plane import ControlPlane
from tests.support.encryption import key_env
from tests.support.stack import Stack
from tests.support.tls import Certificates, TlsTerminator

TLS = "LONGSHOREMAN_TEMPORAL__TLS__"
KEY_PART = "k3y-s3cr3t-part"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, server and client certificates, and an unrelated CA."""
    return Certificates.make(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_endpoint(temporal_server: TemporalDevServer, certs: Certificates) -> Iterator[TlsTerminator]:
    """The session's dev server behind TLS."""
    with TlsTerminator(temporal_server.address, certs) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def mtls_endpoint(temporal_server: TemporalDevServer, certs: Certificates) -> Iterator[TlsTerminator]:
    """The session's dev server behind TLS that requires a client certificate signed by the test CA."""
    with TlsTerminator(temporal_server.address, certs, require_client_cert=True) as endpoint:
        yield endpoint


def tls_env(certs: Certificates, *, client_cert: bool) -> dict[str, str]:
    """The TLS settings of a process that trusts the test CA (and presents the client certificate)."""
    env = {f"{TLS}SERVER_CA_FILE": str(certs.ca), f"{TLS}SERVER_NAME": "localhost"}
    if client_cert:
        env |= {f"{TLS}CLIENT_CERT_FILE": str(certs.client_cert), f"{TLS}CLIENT_KEY_FILE": str(certs.client_key)}
    return env


@pytest.mark.parametrize("mode", ["tls", "mtls"])
def test_a_run_succeeds_when_the_agent_and_the_control_plane_reach_temporal_over_tls(
    mode: str,
    tls_endpoint: TlsTerminator,
    mtls_endpoint: TlsTerminator,
    certs: Certificates,
    tmp_path: Path,
    unique: str,
) -> None:
    endpoint = mtls_endpoint if mode == "mtls" else tls_endpoint
    env = tls_env(certs, client_cert=mode == "mtls")
    plane = ControlPlane.start(endpoint.address, tmp_path / "plane", extra_env=env)
    agent = AgentProcess(
        temporal_address=endpoint.address,
        control_plane_url=plane.url,
        agent_token=plane.create_agent_token(f"tls-{unique}"),
        task_queue=f"tls-{unique}",
        state_dir=tmp_path / "agent-state",
        log_file=tmp_path / "agent.log",
        extra_env=env,
    ).start()
    try:
        with plane.client() as client:
            stack = Stack(client=client, agent=agent, queue=agent.task_queue, prefix=unique[:6])
            stack.add_location(stack.spec())
            run = stack.wait_run(stack.launch("greet", {"name": mode}))
            assert run["status"] == "SUCCESS", run
            assert f"hello, {mode}" in stack.logs(run["id"])
            stack.remove_all()
        assert (
            "connected to Temporal at" in agent.log_tail()
            and ("mTLS" if mode == "mtls" else "TLS)") in agent.log_tail()
        )
    finally:
        agent.stop()
        agent.kill_leftovers()
        plane.stop()


def start_failing(module: str, address: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m <module>` with these Temporal settings; it must end by itself (a hang fails the test)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    full |= (
        key_env()
        | {
            "LONGSHOREMAN_TEMPORAL__ADDRESS": address,
            "LONGSHOREMAN_TEMPORAL__CONNECT_TIMEOUT_S": "5",
            "LONGSHOREMAN_AGENT_TOKEN": "unused",
            "LONGSHOREMAN_STATE_DIR": str(tmp_path / "state"),
            "LONGSHOREMAN_DATABASE_URL": f"sqlite:///{tmp_path / 'cp.db'}",
            "LONGSHOREMAN_PORT": str(free_port()),
        }
        | env
    )
    return subprocess.run(
        [sys.executable, "-m", module], env=full, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The process failed with exactly one line on stderr and no traceback; that line."""
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("module", ["agent", "controlplane"])
def test_wrong_temporal_settings_stop_the_process_at_start_with_one_readable_line(
    module: str,
    tls_endpoint: TlsTerminator,
    mtls_endpoint: TlsTerminator,
    certs: Certificates,
    tmp_path: Path,
) -> None:
    bad_pem = tmp_path / "bad.pem"
    bad_pem.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cases = [
        (tls_endpoint.address, {f"{TLS}SERVER_CA_FILE": str(certs.other_ca)}, "not signed by the configured CA"),
        (mtls_endpoint.address, tls_env(certs, client_cert=False), "client certificate"),
        (f"127.0.0.1:{free_port()}", {}, "connection refused"),
        (tls_endpoint.address, {f"{TLS}SERVER_CA_FILE": str(bad_pem)}, "does not hold PEM certificates"),
        (tls_endpoint.address, {f"{TLS}CLIENT_CERT_FILE": str(certs.client_cert)}, "go together"),
        (tls_endpoint.address, {"LONGSHOREMAN_TEMPORAL__API_KEY": f"{KEY_PART}\nsecond-half"}, "one word"),
    ]
    for address, env, expected in cases:
        result = start_failing(module, address, env, tmp_path)
        line = one_line(result)
        assert expected in line, (env, line)
        assert KEY_PART not in line and "second-half" not in line, "the API key is never shown"
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir()), "nothing was started"
