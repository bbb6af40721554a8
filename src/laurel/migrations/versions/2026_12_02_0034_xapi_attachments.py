"""xAPI statements keep the content of their attachments

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-02 09:00:00

Statements sent as ``multipart/mixed`` carry their attachments' octets (certificates, signed
statement JWS). They are kept with the statement, sealed under the same key (the learner's
when it became a completion), so ``GET /xapi/statements?attachments=true`` answers them and a
learner's erasure takes them with the statement.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("xapi_statements", sa.Column("attachments_sealed", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table (batch mode); PostgreSQL drops it in place.
    with op.batch_alter_table("xapi_statements") as batch:
        batch.drop_column("attachments_sealed")
