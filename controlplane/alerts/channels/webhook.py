"""The generic JSON webhook: one POST signed with HMAC-SHA256 (contracts/webhook_signature.py says how)."""

from __future__ import annotations

import json
import time

import httpx

from contracts import webhook_signature
from contracts.alerts import WebhookChannel
from controlplane.alerts.message import AlertMessage


async def post_webhook(channel: WebhookChannel, message: AlertMessage, delivery_id: str, timeout_s: float) -> None:
    """POST the message's payload; any answer but 2xx is a failure (retried by the delivery workflow)."""
    body = json.dumps({**message.payload, "delivery_id": delivery_id}, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "longshoreman-alerts/1",
        webhook_signature.TIMESTAMP_HEADER: str(timestamp),
        webhook_signature.SIGNATURE_HEADER: webhook_signature.sign(channel.signing_secret, timestamp, body),
        webhook_signature.DELIVERY_HEADER: delivery_id,
        webhook_signature.EVENT_HEADER: str(message.payload["event"]["kind"]),
    }
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
        try:
            response = await client.post(channel.url, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise RuntimeError(f"webhook not reached: {type(err).__name__}: {err}") from None
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"webhook answered HTTP {response.status_code}: {response.text[:200]}")
