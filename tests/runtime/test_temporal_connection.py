"""The one Temporal connection settings model: Temporal's own client configuration below, our settings on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from agent.settings import AgentSettings
from controlplane.settings import ControlPlaneSettings
from runtime.temporal_connection import ResolvedConnection, TemporalConfigError, TemporalConnection, explain
from tests.support.tls import Certificates


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Temporal or Longshoreman variable of the machine leaks in; no temporal.toml is found by default."""
    import os

    for name in list(os.environ):
        if name.startswith(("TEMPORAL_", "LONGSHOREMAN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("LONGSHOREMAN_PLAINTEXT_PAYLOADS", "true")


def test_a_temporal_toml_profile_is_the_base_and_longshoreman_settings_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        '[profile.cloud]\naddress = "acme.a1b2c.tmprl.cloud:7233"\nnamespace = "acme.a1b2c"\napi_key = "cloud-key"\n'
        '[profile.cloud.grpc_meta]\nx-team = "data"\n'
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud")
    monkeypatch.setenv("LONGSHOREMAN_TEMPORAL__NAMESPACE", "acme.override")

    resolved = AgentSettings().temporal.resolve()

    assert resolved.address == "acme.a1b2c.tmprl.cloud:7233"
    assert resolved.namespace == "acme.override", "our setting wins over the profile"
    assert resolved.api_key == "cloud-key" and resolved.tls is not False, "an API key means TLS"
    assert resolved.rpc_metadata == {"x-team": "data"}
    assert resolved.describe() == "acme.a1b2c.tmprl.cloud:7233 (namespace acme.override, TLS, API key)"


def test_temporal_variables_and_the_first_releases_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "from-temporal-env:7233")
    assert ControlPlaneSettings().temporal.resolve().address == "from-temporal-env:7233"
    monkeypatch.setenv("LONGSHOREMAN_TEMPORAL_ADDRESS", "first-release:7233")
    monkeypatch.setenv("LONGSHOREMAN_TEMPORAL_NAMESPACE", "old")
    assert ControlPlaneSettings().temporal.resolve().address == "first-release:7233"
    monkeypatch.setenv("LONGSHOREMAN_TEMPORAL__ADDRESS", "nested:7233")
    resolved = ControlPlaneSettings().temporal.resolve()
    assert (resolved.address, resolved.namespace) == ("nested:7233", "old")


def test_the_defaults_are_the_local_dev_server_in_plaintext() -> None:
    resolved = TemporalConnection().resolve()
    assert (resolved.address, resolved.namespace, resolved.tls, resolved.api_key) == (
        "127.0.0.1:7233",
        "default",
        False,
        None,
    )


def test_a_missing_key_file_and_secrets_in_descriptions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    certs = Certificates.make(tmp_path / "certs")
    broken = TemporalConnection.model_validate(
        {"tls": {"client_cert_file": str(certs.client_cert), "client_key_file": str(tmp_path / "nope.key")}}
    )
    with pytest.raises(TemporalConfigError, match=r"CLIENT_KEY_FILE: cannot read .*nope\.key"):
        broken.resolve()
    monkeypatch.setenv("LONGSHOREMAN_TEMPORAL__API_KEY", "sk-very-secret")
    monkeypatch.setenv("LONGSHOREMAN_TEMPORAL__GRPC_METADATA", '{"authorization": "Bearer meta-secret"}')
    settings = AgentSettings()
    text = f"{settings!r} {settings.temporal.describe()} {settings.model_dump_json()}"
    assert "sk-very-secret" not in text and "meta-secret" not in text


@pytest.mark.parametrize(
    "transport_error",
    [
        "source: Some(tonic::transport::Error(Transport, hyper::Error(Io, Kind(ConnectionReset)))) }",
        "Connection reset by peer (os error 104)",
        "peer closed connection without sending TLS close_notify: UnexpectedEof",
    ],
)
def test_a_server_hanging_up_on_a_tls_client_without_a_certificate_names_the_client_certificate(
    transport_error: str,
) -> None:
    # TLS 1.3 servers refuse a missing client certificate after the handshake; each stack words the hang-up its way.
    without_cert = ResolvedConnection("t:7233", "default", None, TLSConfig(), {})
    assert "client certificate" in explain(RuntimeError(f"Failed client connect: {transport_error}"), without_cert)
    plaintext = ResolvedConnection("t:7233", "default", None, False, {})
    assert "client certificate" not in explain(RuntimeError(transport_error), plaintext)
