"""The key ring: authenticated encryption bound to a column, key ids, rotation without downtime."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from laurel.config import Settings
from laurel.kit import crypto
from laurel.kit.crypto import DecryptionError, KeyRing, KeyRingError

NEW = base64.b64encode(b"\x01" * 32).decode()
OTHER = base64.b64encode(b"\x02" * 32).decode()


def test_encrypt_decrypt_bound_to_context_and_key() -> None:
    ring = KeyRing.parse(f"k1:{NEW}, k2:{OTHER}")
    token = ring.encrypt("123-45-6789", "tax:tin")
    assert token.startswith("lk1:k1:")
    assert "6789" not in token
    assert ring.encrypt("123-45-6789", "tax:tin") != token  # a fresh nonce each time
    assert ring.decrypt(token, "tax:tin") == "123-45-6789"
    with pytest.raises(DecryptionError):
        ring.decrypt(token, "privacy:phi")  # copied into another column
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered, "tax:tin")
    with pytest.raises(DecryptionError, match="not in the key ring"):
        KeyRing.parse(f"k2:{OTHER}").decrypt(token, "tax:tin")
    assert crypto.key_id_of(token) == "k1"
    assert ring.blind_index("a@example.com", "email") == ring.blind_index("a@example.com", "email")
    assert ring.blind_index("a@example.com", "email") != ring.blind_index("a@example.com", "x")


@pytest.mark.parametrize(
    ("text_", "message"),
    [
        ("", "at least one key"),
        ("k1", "id:base64"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"k1:{NEW},k1:{OTHER}", "duplicate"),
    ],
)
def test_bad_rings_are_refused(text_: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(text_)


def test_configured_ring_keeps_the_derived_key_for_older_values() -> None:
    plain = Settings(secret_key="s" * 40)
    old = crypto.ring_from_settings(plain)
    token = old.encrypt("x", "c")
    configured = Settings(secret_key="s" * 40, encryption_keys=SecretStr(f"k1:{NEW}"))
    ring = crypto.ring_from_settings(configured)
    assert ring.current.id == "k1"
    assert ring.decrypt(token, "c") == "x"
