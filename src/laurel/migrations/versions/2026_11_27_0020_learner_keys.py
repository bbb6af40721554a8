"""privacy: per-learner keys for personal fields

Learners' email, name and manager move from clear columns to columns sealed under a data key
per learner (``learner_keys``, wrapped by the key ring), with blind indexes beside them. The
existing rows are encrypted in place, in batches, with the ring the application reads with
(``LAUREL_ENCRYPTION_KEYS`` or the key derived from ``LAUREL_SECRET_KEY``): run the upgrade
with the same settings as ``laurel serve``. Downgrading opens them again (erased learners,
whose key is gone, come back empty).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing, ring_from_settings
from laurel.kit.orm import UTCDateTime
from laurel.learners import personal

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ("email", "name", "manager")
_BATCH = 1000
_CLEAR = {"email": sa.String(length=320), "name": sa.String(length=200), "manager": sa.String(200)}

_learners = sa.table(
    "learners",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    *(sa.column(f, sa.String()) for f in FIELDS),
    *(sa.column(f"{f}_sealed", sa.Text()) for f in FIELDS),
    *(sa.column(f"{f}_index", sa.String()) for f in FIELDS),
)
_keys = sa.table(
    "learner_keys",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("learner_id", sa.Uuid()),
    sa.column("wrapped_key", sa.Text()),
    sa.column("created_at", UTCDateTime()),
)


def _ring() -> KeyRing:
    ring = context.config.attributes.get("key_ring")
    if ring is not None:
        return ring  # type: ignore[no-any-return]
    from laurel.config import get_settings  # noqa: PLC0415

    return ring_from_settings(get_settings())


def _batches(conn: sa.Connection, columns: list[Any], where: Any) -> Any:
    after: uuid.UUID | None = None
    while True:
        query = sa.select(_learners.c.id, *columns).where(where)
        if after is not None:
            query = query.where(_learners.c.id > after)
        rows = conn.execute(query.order_by(_learners.c.id).limit(_BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "learner_keys",
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_learner_keys_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_learner_keys_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learner_keys")),
        sa.UniqueConstraint("learner_id", name=op.f("uq_learner_keys_learner_id")),
    )
    with op.batch_alter_table("learners", schema=None) as batch_op:
        for field in FIELDS:
            batch_op.add_column(sa.Column(f"{field}_sealed", sa.Text(), nullable=True))
            batch_op.add_column(sa.Column(f"{field}_index", sa.String(length=100), nullable=True))

    conn = op.get_bind()
    ring = _ring()
    now = utcnow()
    clear = [_learners.c[f] for f in FIELDS]
    has_any = sa.or_(*(c.is_not(None) for c in clear))
    for rows in _batches(conn, [_learners.c.organization_id, *clear], has_any):
        keys, updates = [], []
        for learner_id, organization_id, *values in rows:
            key, wrapped = personal.new_key(ring)
            keys.append(personal.key_row(organization_id, learner_id, wrapped, now))
            sealed: dict[str, Any] = {"_id": learner_id}
            for field, value in zip(FIELDS, values, strict=True):
                for column, stored in personal.columns(ring, key, learner_id, field, value).items():
                    sealed[f"_{column}"] = stored
                sealed[f"_{field}"] = None
            updates.append(sealed)
        conn.execute(sa.insert(_keys), keys)
        conn.execute(
            sa.update(_learners)
            .where(_learners.c.id == sa.bindparam("_id"))
            .values(
                {
                    name: sa.bindparam(f"_{name}")
                    for f in FIELDS
                    for name in (f, f"{f}_sealed", f"{f}_index")
                }
            ),
            updates,
        )

    with op.batch_alter_table("learners", schema=None) as batch_op:
        for field in FIELDS:
            batch_op.drop_column(field)
        batch_op.create_index(
            batch_op.f("ix_learners_organization_id_livemode_email_index"),
            ["organization_id", "livemode", "email_index"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learners_organization_id_livemode_email_index"))
        for field in FIELDS:
            batch_op.add_column(sa.Column(field, _CLEAR[field], nullable=True))

    conn = op.get_bind()
    ring = _ring()
    sealed = [_learners.c[f"{f}_sealed"] for f in FIELDS]
    has_any = sa.or_(*(c.is_not(None) for c in sealed))
    for rows in _batches(conn, sealed, has_any):
        wrapped = dict(
            conn.execute(
                sa.select(_keys.c.learner_id, _keys.c.wrapped_key).where(
                    _keys.c.learner_id.in_([row[0] for row in rows])
                )
            ).all()
        )
        opened = []
        for learner_id, *tokens in rows:
            key = personal.unwrap(ring, wrapped[learner_id]) if learner_id in wrapped else None
            values: dict[str, Any] = {"_id": learner_id}
            for field, token in zip(FIELDS, tokens, strict=True):
                values[f"_{field}"] = (
                    personal.open_(key, learner_id, field, token)
                    if key is not None and token is not None
                    else None
                )
            opened.append(values)
        conn.execute(
            sa.update(_learners)
            .where(_learners.c.id == sa.bindparam("_id"))
            .values({f: sa.bindparam(f"_{f}") for f in FIELDS}),
            opened,
        )

    with op.batch_alter_table("learners", schema=None) as batch_op:
        for field in FIELDS:
            batch_op.drop_column(f"{field}_index")
            batch_op.drop_column(f"{field}_sealed")
    op.drop_table("learner_keys")
