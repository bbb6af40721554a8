"""Delivered codes, PINs and redemption URLs are encrypted at rest: nowhere in the database in
clear, shown only to admin keys (audited), re-encrypted by ``laurel keys rotate``, and sealed by
migration 0019 for rows stored before it."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from laurel import migrate
from laurel.audit.models import AuditEntry
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery import secrets
from laurel.delivery.models import Delivery
from laurel.delivery.providers import Issued, IssueOrder, ProviderRegistry
from laurel.kit import crypto
from laurel.kit.crypto import Key, KeyRing
from laurel.kit.orm import Base
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant, completion
from tests.delivery.support import settle
from tests.factories import fixed_program, role_key

CODE = "GC-7Q4M-SECRET-9K2P"
PIN = "4711"
URL = "https://redeem.example/claim/tok_51fd9c0a77e2"


class CodeProvider:
    """An outside gift-card company that hands over a code, a PIN and a redemption URL."""

    name = "giftco"

    def issue(self, order: IssueOrder) -> Issued:
        return Issued(
            reference=f"gc-{order.idempotency_key[:8]}",
            details={"code": CODE, "pin": PIN, "url": URL, "brand": "Books"},
        )

    def lookup(self, idempotency_key: str) -> Issued | None:
        return None


@pytest.fixture
def providers(database: Database) -> ProviderRegistry:
    registry = default_providers(database)
    registry.add(CodeProvider())
    return registry


def _deliver(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> uuid.UUID:
    fixed_program(client, tenant, provider="giftco", budget={"amount": "100", "currency": "USD"})
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    assert response.status_code == 202, response.text
    reward_id = uuid.UUID(response.json()["rewards"][0]["id"])
    assert settle(database, reward_id, Worker(database, settings, providers)).state == "delivered"
    return reward_id


def _everything_stored(database: Database) -> str:
    """Every value of every row, as text (and on SQLite the database files' bytes too)."""
    if database.dialect == "sqlite":
        database.dispose()  # checkpoints the write-ahead log into the file
        path = Path(database.url.removeprefix("sqlite:///"))
        files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
        return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files)
    chunks: list[str] = []
    with database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(text(f"SELECT row_to_json(t)::text FROM {table.name} t"))
            chunks.extend(row[0] for row in rows)
    return "\n".join(chunks)


def _details(client: TestClient, reward_id: uuid.UUID, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/rewards/{reward_id}", headers=headers)
    assert response.status_code == 200, response.text
    details: dict[str, Any] = response.json()["delivery"]["details"]
    return details


def _reveals(database: Database, reward_id: uuid.UUID) -> int:
    with database.read_session() as session:
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.target_id == str(reward_id),
                AuditEntry.action == "delivery:gift_code:read",
            )
        )
        return len(list(rows))


def test_a_delivered_code_is_nowhere_in_the_database_in_clear(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    reward_id = _deliver(client, tenant, database, settings, providers)

    # The admin key sees what the learner received, and that read is on the record.
    shown = _details(client, reward_id, tenant.headers)
    assert (shown["code"], shown["pin"], shown["url"], shown["brand"]) == (CODE, PIN, URL, "Books")
    assert _reveals(database, reward_id) == 1
    # A read-only key sees the code's last characters, never the PIN.
    masked = _details(client, reward_id, role_key(database, tenant, "finance"))
    assert masked["code"] == "•" * (len(CODE) - 4) + CODE[-4:]
    assert masked["pin"] == "••••"
    assert masked["url"].endswith(URL[-4:])
    assert URL not in json.dumps(masked)
    assert _reveals(database, reward_id) == 1

    stored = _everything_stored(database)
    assert "Books" in stored  # the scan does see the delivery row
    for secret in (CODE, URL, "SECRET-9K2P", "tok_51fd9c0a77e2"):
        assert secret not in stored


def test_rotation_re_encrypts_delivered_codes(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    assert ("deliveries", "secrets_sealed") in {(c.table, c.column) for c in crypto.registered()}
    reward_id = _deliver(client, tenant, database, settings, providers)
    old = crypto.ring_from_settings(settings)
    new_secret = base64.b64encode(b"n" * 32).decode()
    ring = KeyRing([Key("k9", base64.b64decode(new_secret)), *old.keys.values()])

    rewritten = sum(
        b.rewritten for b in crypto.rotate_batches(database, ring) if b.column.table == "deliveries"
    )

    assert rewritten == 1
    with database.read_session() as session:
        row = session.scalars(select(Delivery).where(Delivery.reward_id == reward_id)).one()
        assert row.secrets_sealed is not None
        assert crypto.key_id_of(row.secrets_sealed) == "k9"
        assert secrets.opened(row.details, row.secrets_sealed, ring)["code"] == CODE


def test_migration_0019_seals_codes_stored_before_it(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    reward_id = _deliver(client, tenant, database, settings, providers)

    migrate.downgrade(database, "0018")
    with database.engine.connect() as conn:
        raw = conn.execute(
            text("SELECT details FROM deliveries WHERE reward_id = :r"),
            {"r": reward_id.hex if database.dialect == "sqlite" else reward_id},
        ).scalar_one()
    before = raw if isinstance(raw, dict) else json.loads(raw)
    assert (before["code"], before["pin"], before["url"]) == (CODE, PIN, URL)

    migrate.upgrade(database)

    with database.read_session() as session:
        row = session.scalars(select(Delivery).where(Delivery.reward_id == reward_id)).one()
        assert row.secrets_sealed is not None
        assert CODE not in json.dumps(row.details)
        assert row.details["brand"] == "Books"
    assert _details(client, reward_id, tenant.headers)["code"] == CODE
