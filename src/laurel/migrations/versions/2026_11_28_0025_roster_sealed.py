"""roster: entries' email and manager sealed under the key ring, matched by a blind index

``roster_entries.email`` and ``manager`` become ``email_sealed`` and ``manager_sealed``
(:mod:`laurel.roster.sealed`), and ``email_index`` (the blind index a learner's email has)
replaces the ``(roster_id, email)`` index. Existing entries are sealed here, in batches, with
the ring the application reads with: run the upgrade with the same settings as ``laurel
serve``. The clear columns are then dropped with a plain DROP COLUMN (SQLite 3.35+): no table
rebuild (roster tables carry no triggers, and nothing refers to ``roster_entries``).
Downgrading opens them again.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from laurel.kit.crypto import KeyRing, ring_from_settings
from laurel.roster import sealed

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
_OLD_INDEX = "ix_roster_entries_roster_id_email"
_NEW_INDEX = "ix_roster_entries_roster_id_email_index"

_entries = sa.table(
    "roster_entries",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("manager", sa.String()),
    sa.column("email_sealed", sa.Text()),
    sa.column("email_index", sa.String()),
    sa.column("manager_sealed", sa.Text()),
)


def _ring() -> KeyRing:
    ring = context.config.attributes.get("key_ring")
    if ring is not None:
        return ring  # type: ignore[no-any-return]
    from laurel.config import get_settings  # noqa: PLC0415

    return ring_from_settings(get_settings())


def _batches(conn: sa.Connection, columns: list[Any], where: Any) -> Iterator[Any]:
    after: uuid.UUID | None = None
    while True:
        query = sa.select(_entries.c.id, *columns).where(where)
        if after is not None:
            query = query.where(_entries.c.id > after)
        rows = conn.execute(query.order_by(_entries.c.id).limit(_BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _sealed_row(
    ring: KeyRing, row_id: uuid.UUID, email: str | None, manager: str | None
) -> dict[str, Any]:
    stored = sealed.columns(ring, email, manager)
    return {
        "_id": row_id,
        "_email": stored["email_sealed"],
        "_index": stored["email_index"],
        "_manager": stored["manager_sealed"],
    }


def upgrade() -> None:
    op.add_column("roster_entries", sa.Column("email_sealed", sa.Text(), nullable=True))
    op.add_column("roster_entries", sa.Column("email_index", sa.String(100), nullable=True))
    op.add_column("roster_entries", sa.Column("manager_sealed", sa.Text(), nullable=True))
    conn = op.get_bind()
    ring = _ring()
    c = _entries.c
    for rows in _batches(conn, [c.email, c.manager], c.email.is_not(None) | c.manager.is_not(None)):
        conn.execute(
            sa.update(_entries)
            .where(c.id == sa.bindparam("_id"))
            .values(
                email=None,
                manager=None,
                email_sealed=sa.bindparam("_email"),
                email_index=sa.bindparam("_index"),
                manager_sealed=sa.bindparam("_manager"),
            ),
            [_sealed_row(ring, row_id, email, manager) for row_id, email, manager in rows],
        )
    op.drop_index(_OLD_INDEX, table_name="roster_entries")
    op.create_index(_NEW_INDEX, "roster_entries", ["roster_id", "email_index"], unique=False)
    op.drop_column("roster_entries", "email")
    op.drop_column("roster_entries", "manager")


def downgrade() -> None:
    op.add_column("roster_entries", sa.Column("email", sa.String(320), nullable=True))
    op.add_column("roster_entries", sa.Column("manager", sa.String(200), nullable=True))
    conn = op.get_bind()
    ring = _ring()
    c = _entries.c
    for rows in _batches(
        conn,
        [c.email_sealed, c.manager_sealed],
        c.email_sealed.is_not(None) | c.manager_sealed.is_not(None),
    ):
        conn.execute(
            sa.update(_entries)
            .where(c.id == sa.bindparam("_id"))
            .values(
                email=sa.bindparam("_email"),
                manager=sa.bindparam("_manager"),
                email_sealed=None,
                email_index=None,
                manager_sealed=None,
            ),
            [
                {
                    "_id": row_id,
                    "_email": None if email is None else ring.decrypt(email, sealed.EMAIL.context),
                    "_manager": None
                    if manager is None
                    else ring.decrypt(manager, sealed.MANAGER.context),
                }
                for row_id, email, manager in rows
            ],
        )
    op.drop_index(_NEW_INDEX, table_name="roster_entries")
    op.create_index(_OLD_INDEX, "roster_entries", ["roster_id", "email"], unique=False)
    op.drop_column("roster_entries", "manager_sealed")
    op.drop_column("roster_entries", "email_index")
    op.drop_column("roster_entries", "email_sealed")
