"""End-to-end payload encryption: an AES-256-GCM payload codec and the key ring it uses.

Every payload the project's Temporal clients and workers exchange (workflow inputs such as a location's env,
activity inputs and results, queries, updates, failure messages) is encrypted before it reaches Temporal and
decrypted only by a process that holds a key: the agent, the control plane (and its codec endpoint), the
replayer. Temporal stores ciphertext only.

Key format: a key is 32 random bytes written as `ID:BASE64`, for example `k2:3q2+7w...=`. A key ring is a list
of such keys separated by commas or newlines (a file may carry `#` comments). The FIRST key encrypts; every key
decrypts, which is how keys rotate: put the new key first, keep the old one after it until no open workflow
still holds payloads encrypted with it, then drop it. The key id travels in each payload's metadata (it is not
secret), so a process knows which key to use and says which one it misses.

Keys come only from settings (environment variable or file), never from code.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
CIPHER = b"AES256-GCM"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
METADATA_CIPHER = "encryption-cipher"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Bound into every ciphertext (with the key id): a payload cannot be passed off as encrypted under another key.
AAD_PREFIX = b"longshoreman-payload-v1|"

KEYS_ENV = "LONGSHOREMAN_ENCRYPTION_KEYS"
KEY_FILE_ENV = "LONGSHOREMAN_ENCRYPTION_KEY_FILE"
PLAINTEXT_ENV = "LONGSHOREMAN_PLAINTEXT_PAYLOADS"


class KeyConfigError(ValueError):
    """The encryption keys are missing or malformed; the message says what to fix (never a key's value)."""


class PayloadDecryptionError(Exception):
    """An encrypted payload cannot be decrypted here (unknown key id, or tampered/corrupt ciphertext)."""


@dataclass(frozen=True)
class EncryptionKey:
    """One AES-256 key and its id."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise KeyConfigError(f"key id {self.key_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if len(self.secret) != KEY_BYTES:
            raise KeyConfigError(f"key {self.key_id!r} must be {KEY_BYTES} bytes (base64), got {len(self.secret)}")

    @classmethod
    def generate(cls, key_id: str) -> EncryptionKey:
        """A new random key."""
        return cls(key_id, os.urandom(KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> EncryptionKey:
        """`ID:BASE64` (standard or URL-safe base64)."""
        key_id, sep, encoded = text.strip().partition(":")
        if not sep or not key_id or not encoded:
            raise KeyConfigError("an encryption key must look like ID:BASE64 (32 bytes once decoded)")
        try:
            secret = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise KeyConfigError(f"key {key_id!r} is not valid base64") from None
        return cls(key_id, secret)

    def format(self) -> str:
        """The `ID:BASE64` form `parse` reads."""
        return f"{self.key_id}:{base64.b64encode(self.secret).decode()}"


class KeyRing:
    """The keys a process holds: the first encrypts, all decrypt."""

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            raise KeyConfigError("a key ring needs at least one key")
        ids = [key.key_id for key in keys]
        duplicates = sorted({key_id for key_id in ids if ids.count(key_id) > 1})
        if duplicates:
            raise KeyConfigError(f"duplicate key id(s): {', '.join(duplicates)}")
        self.keys = tuple(keys)
        self._by_id = {key.key_id: key for key in keys}

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self._by_id)})"

    @property
    def active(self) -> EncryptionKey:
        """The key new payloads are encrypted with."""
        return self.keys[0]

    @property
    def ids(self) -> list[str]:
        """Key ids, active first."""
        return list(self._by_id)

    def get(self, key_id: str) -> EncryptionKey | None:
        """The key with this id, if held."""
        return self._by_id.get(key_id)

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Keys separated by commas, whitespace or newlines; lines starting with '#' are comments."""
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        items = [item for line in lines for item in re.split(r"[,\s]+", line) if item]
        return cls([EncryptionKey.parse(item) for item in items])

    def format(self) -> str:
        """One `ID:BASE64` per line, active first (the key-file format)."""
        return "".join(f"{key.format()}\n" for key in self.keys)


def load_keyring(keys: str | None, key_file: Path | None, plaintext: bool = False) -> KeyRing | None:
    """The key ring from settings: inline keys or a key file (not both).

    None only when `plaintext` is set explicitly and no key is configured: encryption is never skipped silently.
    """
    if keys and key_file:
        raise KeyConfigError(f"set either {KEYS_ENV} or {KEY_FILE_ENV}, not both")
    if key_file is not None:
        try:
            text = key_file.read_text()
        except OSError as err:
            raise KeyConfigError(f"cannot read the encryption key file {key_file}: {err.strerror or err}") from None
        try:
            return KeyRing.parse(text)
        except KeyConfigError as err:
            raise KeyConfigError(f"{key_file}: {err}") from None
    if keys:
        return KeyRing.parse(keys)
    if plaintext:
        return None
    raise KeyConfigError(
        f"no payload encryption key: set {KEYS_ENV}=ID:BASE64 or {KEY_FILE_ENV}=PATH "
        f"(create one with `longshoreman key generate`), or {PLAINTEXT_ENV}=true to send payloads unencrypted"
    )


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialized payload (its metadata included); a random 96-bit nonce each time."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {key.key_id: AESGCM(key.secret) for key in ring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the active key."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; others pass through (e.g. a signal an operator sent with the CLI)."""
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted."""
        key_id = self.ring.active.key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), _aad(key_id))
        return Payload(
            metadata={METADATA_ENCODING: ENCODING, METADATA_CIPHER: CIPHER, METADATA_KEY_ID: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted (unchanged if it is not ours)."""
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            return payload
        key_id = payload.metadata.get(METADATA_KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with key {key_id!r}, which this process does not hold "
                f"(it holds: {', '.join(self.ring.ids)}); add that key after the active one to decrypt it"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(key_id))
        except InvalidTag:
            raise PayloadDecryptionError(f"payload under key {key_id!r} failed authentication (corrupt)") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def _aad(key_id: str) -> bytes:
    return AAD_PREFIX + key_id.encode()


def generate_keyring(ids: Iterable[str]) -> KeyRing:
    """Fresh random keys with these ids (for `longshoreman key generate` and the dev stack)."""
    return KeyRing([EncryptionKey.generate(key_id) for key_id in ids])


# ---- values sealed at rest (the control plane's copy of a location's secret_env) --------------------------

SEALED_PREFIX = "sealed:v1:"


def seal_text(ring: KeyRing, text: str, context: str) -> str:
    """`text` encrypted with the active key, bound to `context` (e.g. 'location/KEY'): 'sealed:v1:ID:BASE64'."""
    key = ring.active
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, text.encode(), _sealed_aad(key.key_id, context))
    return f"{SEALED_PREFIX}{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"


def open_text(ring: KeyRing, sealed: str, context: str) -> str:
    """The text `seal_text` sealed; PayloadDecryptionError if the key is missing or the value was tampered with."""
    key_id, _, encoded = sealed.removeprefix(SEALED_PREFIX).partition(":")
    key = ring.get(key_id)
    if key is None or not sealed.startswith(SEALED_PREFIX):
        raise PayloadDecryptionError(f"a sealed value needs key {key_id!r}, which this process does not hold")
    data = base64.b64decode(encoded)
    try:
        plain = AESGCM(key.secret).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _sealed_aad(key_id, context))
    except InvalidTag:
        raise PayloadDecryptionError(f"a sealed value under key {key_id!r} failed authentication") from None
    return plain.decode()


def _sealed_aad(key_id: str, context: str) -> bytes:
    return b"longshoreman-sealed-v1|" + key_id.encode() + b"|" + context.encode()
