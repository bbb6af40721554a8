"""delivery: learner currency, sealed delivery details, operator email locale, outbox purge

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 09:00:00

Delivered codes, PINs and redemption URLs move out of ``deliveries.details`` into
``deliveries.secrets_sealed``, encrypted with the key ring of this deployment's settings
(``LAUREL_ENCRYPTION_KEYS`` / ``LAUREL_SECRET_KEY``); ``details`` keeps only their last
characters. Downgrading decrypts them back into ``details``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models): the migration must keep meaning what it meant.
_SECRET_FIELDS = ("code", "pin", "url")
_CONTEXT = "delivery:secrets"
_BATCH = 500
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ring() -> Any:
    from laurel.config import get_settings  # noqa: PLC0415 - the deployment's own keys
    from laurel.kit.crypto import ring_from_settings  # noqa: PLC0415

    return ring_from_settings(get_settings())


def _mask(value: str) -> str:
    shown = 4 if len(value) >= 12 else 0
    return "•" * (len(value) - shown) + value[len(value) - shown :]


def _details(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        loaded = json.loads(raw)
        return loaded if isinstance(loaded, dict) else {}
    return dict(raw or {})


def _deliveries() -> Any:
    return sa.table(
        "deliveries",
        sa.column("id", sa.Uuid()),
        sa.column("details", _JSON),
        sa.column("secrets_sealed", sa.Text()),
    )


def _seal_existing() -> None:
    bind = op.get_bind()
    table = _deliveries()
    ring = None
    after = None
    while True:
        query = sa.select(table.c.id, table.c.details).order_by(table.c.id).limit(_BATCH)
        query = query.where(table.c.secrets_sealed.is_(None))
        if after is not None:
            query = query.where(table.c.id > after)
        rows = bind.execute(query).all()
        if not rows:
            return
        for row_id, raw in rows:
            details = _details(raw)
            secret = {
                n: details[n]
                for n in _SECRET_FIELDS
                if isinstance(details.get(n), str) and details[n]
            }
            if not secret:
                continue
            ring = ring or _ring()
            sealed = ring.encrypt(json.dumps(secret, sort_keys=True), _CONTEXT)
            public = details | {n: _mask(v) for n, v in secret.items()}
            bind.execute(
                sa.update(table)
                .where(table.c.id == row_id)
                .values(details=public, secrets_sealed=sealed)
            )
        after = rows[-1][0]


def _open_existing() -> None:
    bind = op.get_bind()
    table = _deliveries()
    rows = bind.execute(
        sa.select(table.c.id, table.c.details, table.c.secrets_sealed).where(
            table.c.secrets_sealed.is_not(None)
        )
    ).all()
    if not rows:
        return
    ring = _ring()
    for row_id, raw, sealed in rows:
        secret = json.loads(ring.decrypt(sealed, _CONTEXT))
        bind.execute(
            sa.update(table).where(table.c.id == row_id).values(details=_details(raw) | secret)
        )


def upgrade() -> None:
    with op.batch_alter_table("reward_conversions") as batch:
        batch.add_column(sa.Column("wanted_currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("fallback_reason", sa.String(length=300), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("secrets_sealed", sa.Text(), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=35), nullable=True))
    with op.batch_alter_table("email_settings") as batch:
        batch.add_column(sa.Column("admin_locale", sa.String(length=35), nullable=True))
    with op.batch_alter_table("email_outbox") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("webhook_messages") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    _seal_existing()


def downgrade() -> None:
    _open_existing()
    with op.batch_alter_table("webhook_messages") as batch:
        batch.drop_column("purged_at")
    with op.batch_alter_table("email_outbox") as batch:
        batch.drop_column("purged_at")
    with op.batch_alter_table("email_settings") as batch:
        batch.drop_column("admin_locale")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("secrets_sealed")
    with op.batch_alter_table("reward_conversions") as batch:
        batch.drop_column("fallback_reason")
        batch.drop_column("wanted_currency")
