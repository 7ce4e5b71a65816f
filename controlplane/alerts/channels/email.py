"""Email over SMTP with STARTTLS (smtplib: the standard library does all of it)."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from contracts.alerts import EmailChannel
from controlplane.alerts.message import AlertMessage


def message_id(delivery_id: str) -> str:
    """The same Message-ID on every retry of one alert: a mail system that got it twice can tell."""
    return f"<{hashlib.sha256(delivery_id.encode()).hexdigest()[:32]}@longshoreman.alerts>"


def send_email(channel: EmailChannel, message: AlertMessage, delivery_id: str, timeout_s: float) -> None:
    """Send one mail (blocking: run it in a thread); smtplib's exceptions say what went wrong."""
    # No folding below 998 characters (RFC 5322): Python folds some subjects right after "Subject:", which
    # readers then show with a leading space.
    mail = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id(delivery_id)
    mail["X-Longshoreman-Delivery"] = delivery_id
    mail.set_content(message.text)
    with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=timeout_s) as smtp:
        smtp.ehlo()
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if channel.username:
            smtp.login(channel.username, channel.password or "")
        smtp.send_message(mail)
