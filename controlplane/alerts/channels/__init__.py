"""Alert channels: email (SMTP), signed JSON webhooks, and the services apprise knows (Slack, Teams, PagerDuty).

Email and webhooks are our own code: the webhook needs our signature and delivery-id headers (apprise's json://
signs nothing), and both need a failure to be an exception with the server's answer, so that the delivery
activity records it and Temporal retries it. The service channels go through apprise (`send_apprise`).
"""

from __future__ import annotations

import asyncio

from contracts.alerts import AlertChannel, AppriseChannel, EmailChannel, WebhookChannel
from controlplane.alerts.channels.apprise_channel import send_apprise
from controlplane.alerts.channels.email import send_email
from controlplane.alerts.channels.webhook import post_webhook
from controlplane.alerts.message import AlertMessage


async def send(channel: AlertChannel, message: AlertMessage, delivery_id: str, timeout_s: float) -> None:
    """Deliver `message` on `channel`; raises with a readable reason if the channel did not take it."""
    if isinstance(channel, WebhookChannel):
        await post_webhook(channel, message, delivery_id, timeout_s)
    elif isinstance(channel, EmailChannel):
        await asyncio.to_thread(send_email, channel, message, delivery_id, timeout_s)
    elif isinstance(channel, AppriseChannel):
        await asyncio.wait_for(
            asyncio.to_thread(send_apprise, channel.kind, channel.url, message.title, message.text), timeout_s * 3
        )
