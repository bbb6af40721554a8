"""The audit hash is defined over canonical JSON; the fast path that assembles it must agree."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from laurel.audit import service as audit
from laurel.kit.canonical import canonical_json, sha256_hex


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"b": 1, "a": [1, 2, {"z": None, "y": True}]},
        {"name": 'Ana "Díaz" \\ 日本 \n\t', "amount": "25.00", "score": 0.92},
        {"nested": {"k": ["é", "\u2028", "\x00"]}},
    ],
)
def test_assembled_body_equals_canonical_json(details: dict[str, Any]) -> None:
    org = uuid.uuid4()
    when = datetime(2026, 11, 26, 3, 4, 5, 6, tzinfo=UTC)
    fields = {
        "organization_id": str(org),
        "seq": 42,
        "actor": 'apikey:"x"',
        "action": "rewards:reward:ready",
        "target_type": "reward",
        "target_id": "ünïcode-id",
        "details": details,
        "created_at": when.isoformat(timespec="microseconds"),
    }
    expected = sha256_hex("0" * 64 + canonical_json(fields))
    stored, text = audit._canonical(details)
    assert text == canonical_json(details)
    assert stored == details
    got = audit.entry_hash(
        prev_hash="0" * 64,
        organization_id=org,
        seq=42,
        actor='apikey:"x"',
        action="rewards:reward:ready",
        target_type="reward",
        target_id="ünïcode-id",
        details=details,
        created_at=when,
    )
    assert got == expected


def test_foreign_values_are_stored_as_their_string_form() -> None:
    ident = uuid.uuid4()
    stored, text = audit._canonical({"id": ident, "when": (1, 2)})
    assert stored == {"id": str(ident), "when": [1, 2]}
    assert text == canonical_json({"id": str(ident), "when": [1, 2]})
