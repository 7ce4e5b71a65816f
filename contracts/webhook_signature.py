"""How alert webhooks are signed, and how a receiver verifies them (standard library only: copy it freely).

The control plane POSTs a JSON body with these headers:

- `X-Longshoreman-Timestamp`: Unix seconds when the attempt was made;
- `X-Longshoreman-Signature`: `v1=` + hex HMAC-SHA256, keyed with the channel's `signing_secret`, of
  `<timestamp>.<raw body bytes>`;
- `X-Longshoreman-Delivery`: `<policy>:<event id>`, the same on every retry of one alert (dedupe on it);
- `X-Longshoreman-Event`: the event kind.

A receiver recomputes the HMAC over the raw body it received, compares in constant time, and refuses a timestamp
more than a few minutes off its clock (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Longshoreman-Timestamp"
SIGNATURE_HEADER = "X-Longshoreman-Signature"
DELIVERY_HEADER = "X-Longshoreman-Delivery"
EVENT_HEADER = "X-Longshoreman-Event"
VERSION = "v1"
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{VERSION}={mac}"


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, now: float, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> bool:
    """True if `signature` signs `body` at `timestamp` with `secret`, and `timestamp` is within the tolerance."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)
