"""An import is a file processed in chunks; its row counts are its resume cursor.

Each chunk's events, rejected rows and the import's counters commit in one transaction, so after
a crash ``rows_read`` says exactly which data rows are done and a resume starts after them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class ImportKind(StrEnum):
    completions = "completions"
    roster = "roster"


class ImportStatus(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"


class FileFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class Import(TenantMixin, Base):
    __tablename__ = "imports"
    __table_args__ = (Index(None, "organization_id", "kind", "sha256"),)

    kind: Mapped[str] = mapped_column(String(32))
    livemode: Mapped[bool] = mapped_column(default=True)
    actor: Mapped[str] = mapped_column(String(200))
    """Who started it; a resumed import keeps acting as them."""
    filename: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    stored_path: Mapped[str | None] = mapped_column(String(1000), default=None)
    """Where an uploaded file is kept until the import completes (None: the CLI's own file)."""
    mapping_name: Mapped[str | None] = mapped_column(String(64), default=None)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The columns and options this import runs with: {"columns": {field: header}, "options"}."""
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.pending)
    rows_total: Mapped[int | None] = mapped_column(default=None)
    """Data rows in the file (blank rows left out), counted before the first chunk."""
    rows_read: Mapped[int] = mapped_column(default=0)
    """Data rows whose outcome has committed: the resume cursor."""
    accepted: Mapped[int] = mapped_column(default=0)
    """Rows stored as new events (completions) or roster entries (roster)."""
    replayed: Mapped[int] = mapped_column(default=0)
    """Rows already imported before (same learner, course and completion time and content)."""
    rejected: Mapped[int] = mapped_column(default=0)
    warnings: Mapped[int] = mapped_column(default=0, server_default="0")
    """Rows imported with warnings (an optional value dropped), listed with the rejected rows
    in ``import_rejections``: every problem of such a row has ``severity: warning``."""
    rewards: Mapped[int] = mapped_column(default=0)
    """Rewards the accepted rows created."""
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    """Why the file as a whole could not be imported (failed imports only)."""
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ImportRejection(TenantMixin, Base):
    """One rejected data row, or one imported with warnings: where it was, every reason, and
    its cells as read."""

    __tablename__ = "import_rejections"
    __table_args__ = (UniqueConstraint("import_id", "line"),)

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imports.id"))
    line: Mapped[int]
    """Row number as a spreadsheet shows it (the header is row 1)."""
    errors: Mapped[list[Any]] = mapped_column(default=list)
    """[{"column": header, "field": name, "reason": why}], plus ``"severity": "warning"`` on a
    problem that did not reject the row; a row whose problems are all warnings was imported."""
    values: Mapped[list[Any]] = mapped_column(default=list)
    """Empty: the cells are in ``values_sealed``."""
    values_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The row's cells in file order, as text, sealed under the key ring (no learner is known
    for a rejected row; :mod:`laurel.learners.sealing`)."""


class ImportMapping(TenantMixin, Base):
    """A saved column mapping for one LMS or HRIS export, reused by name."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("organization_id", "kind", "name"),)

    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    columns: Mapped[dict[str, Any]] = mapped_column(default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
