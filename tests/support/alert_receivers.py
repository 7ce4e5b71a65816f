"""Real receivers of alerts for tests: an SMTP server (aiosmtpd) and an HTTP server that verifies webhook
signatures; either can be taken down and brought back on the same port."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from contracts import webhook_signature
from longshoreman.dev.temporal_server import free_port


@dataclass
class ReceivedMail:
    """One mail the SMTP server accepted."""

    sender: str
    recipients: list[str]
    message: Message
    received_at: float = field(default_factory=time.time)  # wall clock (the bench compares with the API's times)

    @property
    def body(self) -> str:
        """The text part."""
        payload = self.message.get_payload(decode=True)
        return payload.decode() if isinstance(payload, bytes) else str(self.message.get_payload())


class _MailHandler:
    def __init__(self, box: list[ReceivedMail]) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.append(
            ReceivedMail(
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                message=message_from_bytes(envelope.original_content or envelope.content, policy=policy.default),
            )
        )
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on a free loopback port, in its own thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[ReceivedMail] = []
        self._controller = Controller(_MailHandler(self.mails), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        """Start serving."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()

    def channel(self, name: str = "mail", to: str = "oncall@example.com") -> dict[str, Any]:
        """An email channel of a policy that sends here (plain SMTP: the test server has no certificate)."""
        return {
            "name": name,
            "kind": "email",
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "starttls": False,
            "sender": "longshoreman@example.com",
            "to": [to],
        }


@dataclass
class ReceivedHook:
    """One POST the webhook receiver got, and whether its signature verified."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    time: float
    received_at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        """The decoded body."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on a fixed free port; `down()` closes the port, `up()` opens it again."""

    secret: str = "a-signing-secret-of-the-test"
    signed: bool = True  # False: any POST is welcome (apprise's json:// signs nothing)
    port: int = field(default_factory=free_port)
    hooks: list[ReceivedHook] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    def channel(self, name: str = "hook") -> dict[str, Any]:
        """A webhook channel of a policy that posts here."""
        return {"name": name, "kind": "webhook", "url": self.url, "signing_secret": self.secret}

    def up(self) -> WebhookReceiver:
        """Start answering (204 to every POST)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key: value for key, value in self.headers.items()}
                verified = webhook_signature.verify(
                    receiver.secret,
                    self.headers.get(webhook_signature.TIMESTAMP_HEADER, ""),
                    self.headers.get(webhook_signature.SIGNATURE_HEADER, ""),
                    body,
                    now=time.time(),
                )
                receiver.hooks.append(ReceivedHook(self.path, headers, body, verified, time.monotonic()))
                self.send_response(204 if verified or not receiver.signed else 401)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Close the port: connections are refused until `up()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
