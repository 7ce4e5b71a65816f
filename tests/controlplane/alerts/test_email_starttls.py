"""Email over STARTTLS against a real SMTP server (aiosmtpd) that requires it: the mail goes out encrypted when
the server's certificate is trusted, and nothing is sent (the login included) when it is not."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from contracts.alerts import EmailChannel
from controlplane.alerts.channels.email import send_email
from controlplane.alerts.message import AlertMessage
from longshoreman.dev.temporal_server import free_port
from tests.support.tls import Certificates


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[bool, bytes]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((session.ssl is not None, envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[tuple[Controller, _Inbox, Certificates]]:
    certs = Certificates.make(tmp_path / "certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    inbox = _Inbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        inbox.logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password == b"s3cret-pass")

    controller = Controller(
        inbox,
        hostname="localhost",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield controller, inbox, certs
    finally:
        controller.stop()


def _channel(port: int) -> EmailChannel:
    return EmailChannel(
        name="mail",
        smtp_host="localhost",
        smtp_port=port,
        username="alerts",
        password="s3cret-pass",
        sender="longshoreman@example.com",
        to=["oncall@example.com"],
    )


MESSAGE = AlertMessage(title="run failed", text="Reason: boom", payload={})


def test_the_mail_goes_out_over_starttls_to_a_trusted_server(tls_smtp: Any, monkeypatch: pytest.MonkeyPatch):
    controller, inbox, certs = tls_smtp
    # The CA of the user's own mail server, trusted the usual way for the control plane's process.
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))

    send_email(_channel(controller.port), MESSAGE, "delivery-1", timeout_s=10)

    assert inbox.logins == ["alerts"]
    [(encrypted, raw)] = inbox.mails
    assert encrypted and b"Subject: run failed" in raw and b"Reason: boom" in raw


def test_an_untrusted_certificate_stops_the_mail_before_the_password_is_sent(
    tls_smtp: Any, monkeypatch: pytest.MonkeyPatch
):
    controller, inbox, certs = tls_smtp
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.other_ca))

    with pytest.raises(ssl.SSLCertVerificationError):
        send_email(_channel(controller.port), MESSAGE, "delivery-2", timeout_s=10)

    assert inbox.logins == [] and inbox.mails == []
