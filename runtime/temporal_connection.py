"""How every Longshoreman process reaches Temporal: address, namespace, TLS, mTLS, API key, gRPC metadata.

One settings model (`TemporalConnection`, the `temporal:` block of every process's settings, variables
`LONGSHOREMAN_TEMPORAL__*`) for the agent, the control plane, `longshoreman replay` and the agent's orphan
checks. It starts from Temporal's own client configuration — the profile of `temporal.toml`
(`TEMPORAL_CONFIG_FILE`, `TEMPORAL_PROFILE`) and the `TEMPORAL_*` variables, read by `temporalio.envconfig` —
and the settings set here win over it. Certificates and keys are read from files when a process connects, so a
rotated certificate is picked up by a restart. The API key and metadata values are secrets: never logged or
shown (`describe()` names only what is configured).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
PREFIX = "LONGSHOREMAN_TEMPORAL__"


class TemporalConfigError(ValueError):
    """The Temporal connection settings are wrong or Temporal cannot be reached; one readable line."""


def exit_refusing(message: str, code: int = 2) -> NoReturn:
    """Print one line and end the process at once: after a failed connection the SDK's native threads may still
    be winding down, and an ordinary interpreter shutdown then aborts with a fatal error under the message."""
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


class TemporalTLS(BaseModel):
    """TLS to Temporal: the server's CA, the name it must present, and a client certificate for mTLS."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(
        default=None, description="Unset: TLS when an API key, a CA or a client certificate is configured."
    )
    server_ca_file: Path | None = Field(default=None, description="PEM CA bundle; unset: the system's roots.")
    server_name: str | None = Field(default=None, description="The name the server's certificate must carry.")
    client_cert_file: Path | None = Field(default=None, description="PEM client certificate (mTLS).")
    client_key_file: Path | None = Field(default=None, description="PEM private key of the client certificate.")


class TemporalConnection(BaseModel):
    """Where Temporal is and how to authenticate to it (unset fields: Temporal's client configuration, then the
    defaults 127.0.0.1:7233 and namespace `default`)."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, description="host:port of the Temporal frontend.")
    namespace: str | None = None
    api_key: SecretStr | None = Field(default=None, description="Temporal Cloud API key (implies TLS).")
    tls: TemporalTLS = Field(default_factory=TemporalTLS)
    grpc_metadata: dict[str, SecretStr] = Field(default_factory=dict, description="Extra gRPC headers.")
    profile: str | None = Field(default=None, description="Profile of temporal.toml; default: TEMPORAL_PROFILE.")
    client_config: bool = Field(default=True, description="Read temporal.toml and the TEMPORAL_* variables.")
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator("api_key")
    @classmethod
    def _one_line(cls, value: SecretStr | None) -> SecretStr | None:
        # A key pasted with its line break would fail at the first call with an opaque gRPC error.
        if value is not None and (not value.get_secret_value() or re.search(r"\s", value.get_secret_value())):
            raise ValueError(
                "the Temporal API key must be one word: no spaces or line breaks (check how it was pasted)"
            )
        return value

    def resolve(self) -> ResolvedConnection:
        """The connection to make: the client configuration's profile with these settings on top; certificate
        files are read and checked now (TemporalConfigError naming the file and what is wrong)."""
        base: Mapping[str, Any] = {}
        if self.client_config:
            try:
                base = ClientConfigProfile.load(profile=self.profile).to_client_connect_config()
            except Exception as err:  # a broken temporal.toml: say so in one line
                raise TemporalConfigError(f"cannot read Temporal's client configuration: {_one_line(err)}") from None
        api_key = self.api_key.get_secret_value() if self.api_key is not None else base.get("api_key")
        metadata = dict(base.get("rpc_metadata") or {}) | {
            k: v.get_secret_value() for k, v in self.grpc_metadata.items()
        }
        return ResolvedConnection(
            address=self.address or base.get("target_host") or DEFAULT_ADDRESS,
            namespace=self.namespace or base.get("namespace") or DEFAULT_NAMESPACE,
            api_key=api_key,
            tls=self._tls(base.get("tls"), api_key is not None),
            rpc_metadata=metadata,
        )

    def _tls(self, profile_tls: bool | TLSConfig | None, has_api_key: bool) -> bool | TLSConfig:
        tls = self.tls
        ours = any((tls.server_ca_file, tls.server_name, tls.client_cert_file, tls.client_key_file))
        enabled = tls.enabled
        if enabled is None:
            enabled = ours or has_api_key or bool(profile_tls)
        if not enabled:
            return False
        if not ours and isinstance(profile_tls, TLSConfig):
            return profile_tls
        if (tls.client_cert_file is None) != (tls.client_key_file is None):
            raise TemporalConfigError(
                f"{PREFIX}TLS__CLIENT_CERT_FILE and {PREFIX}TLS__CLIENT_KEY_FILE go together (mTLS needs both)"
            )
        return TLSConfig(
            server_root_ca_cert=_pem(tls.server_ca_file, "TLS__SERVER_CA_FILE", _certificates),
            domain=tls.server_name,
            client_cert=_pem(tls.client_cert_file, "TLS__CLIENT_CERT_FILE", _certificates),
            client_private_key=_pem(tls.client_key_file, "TLS__CLIENT_KEY_FILE", _private_key),
        )

    def describe(self) -> str:
        """Where and how this connects, for logs and errors: never the key or metadata values."""
        try:
            resolved = self.resolve()
        except TemporalConfigError:
            return self.address or DEFAULT_ADDRESS
        return resolved.describe()

    async def connect(
        self,
        data_converter: DataConverter,
        *,
        identity: str | None = None,
        runtime: Runtime | None = None,
        lazy: bool = False,
    ) -> Client:
        """A connected client (TemporalConfigError, one readable line, if the settings are wrong or Temporal does
        not answer within `connect_timeout_s`). `lazy`: connect on first use, but check the settings now."""
        resolved = self.resolve()
        options: dict[str, Any] = {
            "namespace": resolved.namespace,
            "data_converter": data_converter,
            "tls": resolved.tls,
            "api_key": resolved.api_key,
            "rpc_metadata": resolved.rpc_metadata,
            "lazy": lazy,
        }
        if identity is not None:
            options["identity"] = identity
        if runtime is not None:
            options["runtime"] = runtime
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                return await Client.connect(resolved.address, **options)
        except TimeoutError:
            raise TemporalConfigError(
                f"Temporal at {resolved.describe()} did not answer within {self.connect_timeout_s:g} s "
                "(is the address right, and is a TLS server expecting TLS?)"
            ) from None
        except RuntimeError as err:
            raise TemporalConfigError(
                f"cannot connect to Temporal at {resolved.describe()}: {explain(err, resolved)}"
            ) from None


@dataclass(frozen=True)
class ResolvedConnection:
    """The effective connection: everything Client.connect needs."""

    address: str
    namespace: str
    api_key: str | None
    tls: bool | TLSConfig
    rpc_metadata: dict[str, str]

    @property
    def has_client_cert(self) -> bool:
        """True when a client certificate is configured (mTLS)."""
        return isinstance(self.tls, TLSConfig) and self.tls.client_cert is not None

    def describe(self) -> str:
        """'host:port (namespace x, mTLS, API key)' — what is configured, never a secret."""
        parts = [f"namespace {self.namespace}"]
        if isinstance(self.tls, TLSConfig):
            parts.append("mTLS" if self.has_client_cert else "TLS")
        elif self.tls:
            parts.append("TLS")
        if self.api_key:
            parts.append("API key")
        return f"{self.address} ({', '.join(parts)})"


def explain(err: BaseException, resolved: ResolvedConnection | None = None) -> str:
    """A connection error of the SDK (a long Rust error chain) as the short cause a person can act on."""
    text = str(err)
    no_client_cert = resolved is not None and resolved.tls is not False and not resolved.has_client_cert
    # hyper spells a reset "ConnectionReset", the OS "connection reset": both mean the peer hung up.
    closed = (
        "connection closed",
        "close_notify",
        "UnexpectedEof",
        "connection reset",
        "ConnectionReset",
        "Broken pipe",
    )
    if no_client_cert and any(marker.lower() in text.lower() for marker in closed):
        # TLS 1.3 ends the handshake before the server judges the client: its refusal shows as a closed connection.
        return (
            "the server closed the connection after the TLS handshake: it may require a client certificate "
            "(TLS__CLIENT_CERT_FILE and TLS__CLIENT_KEY_FILE)"
        )
    causes = [
        ("UnknownIssuer", "the server's certificate is not signed by the configured CA (TLS__SERVER_CA_FILE)"),
        ("NotValidForName", "the server's certificate is not valid for that name (TLS__SERVER_NAME)"),
        ("CertificateRequired", "the server requires a client certificate (TLS__CLIENT_CERT_FILE and _KEY_FILE)"),
        ("certificate required", "the server requires a client certificate (TLS__CLIENT_CERT_FILE and _KEY_FILE)"),
        ("UnknownCA", "the server does not accept the client certificate (signed by a CA it does not trust)"),
        ("BadCertificate", "the server rejected the client certificate"),
        ("InvalidContentType", "the server does not speak TLS (is TLS on for a plaintext server?)"),
        ("CorruptMessage", "the server does not speak TLS (is TLS on for a plaintext server?)"),
        ("Connection refused", "connection refused"),
        ("dns error", "the host name does not resolve"),
        ("failed to lookup address", "the host name does not resolve"),
        ("Unauthenticated", "the server refused the credentials (API key or client certificate)"),
        ("PermissionDenied", "the credentials may not use this namespace"),
        ("connection reset", "the server closed the connection (a plaintext client talking to a TLS server?)"),
        ("ConnectionReset", "the server closed the connection (a plaintext client talking to a TLS server?)"),
        ("tls handshake eof", "the server closed the TLS handshake (does it require a client certificate?)"),
        ("HandshakeFailure", "the TLS handshake failed"),
    ]
    for marker, cause in causes:
        if marker.lower() in text.lower():
            return cause
    return _one_line(err)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def _certificates(data: bytes) -> None:
    x509.load_pem_x509_certificates(data)


def _private_key(data: bytes) -> None:
    serialization.load_pem_private_key(data, password=None)


def _pem(path: Path | None, setting: str, check: Any) -> bytes | None:
    """The file's bytes once checked to be what `setting` needs (TemporalConfigError otherwise)."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TemporalConfigError(f"{PREFIX}{setting}: cannot read {path}: {err.strerror or err}") from None
    try:
        check(data)
    except (ValueError, TypeError):
        what = "a PEM private key without a passphrase" if check is _private_key else "PEM certificates"
        raise TemporalConfigError(f"{PREFIX}{setting}: {path} does not hold {what}") from None
    return data
