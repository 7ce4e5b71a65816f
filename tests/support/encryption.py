"""Payload keys of the test processes: one random key ring per test session, given to every process it starts.

Every control plane, agent and Temporal client of the tests must hold the same keys, as in production; keys
are generated here (never written in code) and passed through LONGSHOREMAN_ENCRYPTION_KEYS.
"""

from __future__ import annotations

from functools import cache

from runtime.codec import KEYS_ENV, KeyRing, generate_keyring


@cache
def session_keys() -> str:
    """The session's key ring as `ID:BASE64` (the value of LONGSHOREMAN_ENCRYPTION_KEYS)."""
    return generate_keyring(["test-session"]).format().strip()


def session_keyring() -> KeyRing:
    """The session's key ring, parsed."""
    return KeyRing.parse(session_keys())


def key_env(keys: str | None = None) -> dict[str, str]:
    """The environment entry that hands `keys` (default: the session's) to a process."""
    return {KEYS_ENV: keys or session_keys()}
