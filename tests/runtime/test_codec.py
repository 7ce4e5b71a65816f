"""The AES-GCM payload codec and its key ring: encryption, rotation, tampering, and key configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from runtime.codec import (
    EncryptionCodec,
    KeyConfigError,
    KeyRing,
    PayloadDecryptionError,
    generate_keyring,
    load_keyring,
)
from runtime.converter import data_converter


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_payloads_are_encrypted_with_the_active_key_and_decrypted_back() -> None:
    codec = EncryptionCodec(generate_keyring(["k1"]))
    (sealed,) = await codec.encode([payload("hunter2")])
    assert sealed.metadata["encoding"] == b"binary/encrypted" and sealed.metadata["encryption-key-id"] == b"k1"
    assert b"hunter2" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [payload("hunter2")]
    (again,) = await codec.encode([payload("hunter2")])
    assert again.data != sealed.data, "a fresh nonce each time"


async def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    old = generate_keyring(["k1"])
    (before,) = await EncryptionCodec(old).encode([payload("a")])
    rotated = KeyRing([*generate_keyring(["k2"]).keys, *old.keys])
    codec = EncryptionCodec(rotated)
    (after,) = await codec.encode([payload("b")])
    assert after.metadata["encryption-key-id"] == b"k2"
    assert await codec.decode([before, after]) == [payload("a"), payload("b")]
    with pytest.raises(PayloadDecryptionError, match=r"'k2'.*holds: k1"):
        await EncryptionCodec(old).decode([after])


async def test_tampered_ciphertext_and_swapped_key_ids_are_rejected() -> None:
    ring = generate_keyring(["k1", "k2"])
    codec = EncryptionCodec(ring)
    (sealed,) = await codec.encode([payload("x")])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([tampered])
    relabelled = Payload(metadata={**sealed.metadata, "encryption-key-id": b"k2"}, data=sealed.data)
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([relabelled])


async def test_plain_payloads_pass_through_decoding() -> None:
    assert await EncryptionCodec(generate_keyring(["k1"])).decode([payload("p")]) == [payload("p")]


async def test_the_data_converter_encrypts_values_and_failure_messages() -> None:
    converter = data_converter(generate_keyring(["k1"]))
    (encoded,) = await converter.encode([{"env": {"TOKEN": "hunter2"}}])
    assert b"hunter2" not in encoded.SerializeToString()
    assert await converter.decode([encoded]) == [{"env": {"TOKEN": "hunter2"}}]
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    failure = Failure()
    await converter.encode_failure(ApplicationError("boom: hunter2"), failure)
    assert "hunter2" not in str(failure) and failure.message == "Encoded failure"
    assert "hunter2" in str(await converter.decode_failure(failure))


def test_key_ring_text_format_comments_and_errors(tmp_path: Path) -> None:
    ring = generate_keyring(["new", "old"])
    file = tmp_path / "keys"
    file.write_text("# the first encrypts\n" + ring.format())
    loaded = load_keyring(None, file)
    assert loaded is not None and loaded.ids == ["new", "old"] and loaded.active.secret == ring.active.secret
    assert load_keyring(",".join(k.format() for k in ring.keys), None).ids == ["new", "old"]  # type: ignore[union-attr]
    with pytest.raises(KeyConfigError, match="either"):
        load_keyring(ring.keys[0].format(), file)
    with pytest.raises(KeyConfigError, match="no payload encryption key"):
        load_keyring(None, None)
    assert load_keyring(None, None, plaintext=True) is None
    with pytest.raises(KeyConfigError, match="32 bytes"):
        KeyRing.parse("k:" + "QUFB")
    with pytest.raises(KeyConfigError, match="duplicate"):
        KeyRing([*generate_keyring(["a"]).keys, *generate_keyring(["a"]).keys])
    assert "secret" not in repr(ring.active) and ring.active.format() not in repr(ring)


def test_an_agent_without_a_key_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
    result = subprocess.run(
        [sys.executable, "-m", "agent"], env=env | {"LONGSHOREMAN_AGENT_TOKEN": "x"}, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "no payload encryption key" in result.stderr and "longshoreman key generate" in result.stderr


def test_key_generate_rotates_a_key_file(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    cli = [sys.executable, "-m", "longshoreman", "key", "generate"]
    subprocess.run([*cli, "--id", "k1", "-o", str(file)], check=True, capture_output=True)
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    first = KeyRing.parse(file.read_text())
    subprocess.run([*cli, "--id", "k2", "-o", str(file), "--rotate"], check=True, capture_output=True)
    rotated = KeyRing.parse(file.read_text())
    assert rotated.ids == ["k2", "k1"] and rotated.get("k1") == first.active
