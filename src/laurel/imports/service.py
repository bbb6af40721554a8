"""Imports: create one from a file, run it chunk by chunk, resume it after a crash.

Each chunk (``CHUNK_ROWS`` data rows) is one transaction: its events (through
``events.service.ingest_many``) or roster entries, its rejected rows and the import's counters
commit together. ``rows_read`` is therefore an exact resume cursor: a restarted import skips
the rows it counts and continues, and the chunk guard (an UPDATE that expects the cursor it
read) makes sure two processes resuming the same import never both do a chunk.
"""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.auth import service as auth
from laurel.db import Database, retry_conflicts
from laurel.events import service as events
from laurel.imports import columns as cols
from laurel.imports import parse
from laurel.imports.models import (
    FileFormat,
    Import,
    ImportKind,
    ImportMapping,
    ImportRejection,
    ImportStatus,
)
from laurel.imports.readers import FileError, Row, Table, check_utf8, open_table
from laurel.imports.schemas import MappingIn
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict, Forbidden, Invalid, NotFound
from laurel.kit.faults import crash_point
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.pagination import Page, paginate
from laurel.learners import sealing
from laurel.programs import service as programs
from laurel.roster import service as roster

CHUNK_ROWS = 500
SOURCE = "import"


class ImportNotFound(NotFound):
    code = "import_not_found"


class MappingNotFound(NotFound):
    code = "mapping_not_found"


class ImportBusy(Conflict):
    code = "import_busy"


class ImportFileInvalid(Invalid):
    code = "import_file_invalid"


@dataclass(frozen=True, slots=True)
class FileFacts:
    filename: str
    path: Path
    size_bytes: int
    sha256: str
    format: FileFormat


def _check_kind_allowed(actor: Actor, kind: str) -> None:
    if kind == ImportKind.roster:
        # A roster is the organization's truth for both modes: live admins only.
        auth.require(actor, auth.Scope.admin)
        if not actor.livemode:
            raise Forbidden("test-mode keys cannot import a roster; use a live admin key")
    else:
        auth.require(actor, auth.Scope.events_write)


# ---------------------------------------------------------------- mappings


def save_mapping(
    session: Session, actor: Actor, kind: ImportKind, name: str, data: MappingIn
) -> ImportMapping:
    known = {f.name for f in cols.FIELDS[kind]}
    unknown = sorted(set(data.columns) - known)
    if unknown:
        raise Invalid(
            [
                {
                    "field": f"columns.{u}",
                    "message": f"unknown field; known: {', '.join(sorted(known))}",
                    "type": "value_error",
                }
                for u in unknown
            ]
        )
    row = session.scalar(
        select(ImportMapping)
        .where(
            ImportMapping.organization_id == actor.organization_id,
            ImportMapping.kind == kind,
            ImportMapping.name == name,
        )
        .with_for_update()
    )
    now = utcnow()
    options = data.options.model_dump(mode="json", exclude_defaults=True)
    if row is None:
        row = ImportMapping(
            id=uuid7(),
            organization_id=actor.organization_id,
            kind=kind,
            name=name,
            columns=dict(data.columns),
            options=options,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.columns = dict(data.columns)
        row.options = options
        row.updated_at = now
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="imports:mapping:save",
        target_type="import_mapping",
        target_id=row.id,
        details={"kind": kind, "name": name, "columns": row.columns, "options": row.options},
    )
    return row


def get_mapping(session: Session, actor: Actor, kind: str, name: str) -> ImportMapping:
    row = session.scalar(
        select(ImportMapping).where(
            ImportMapping.organization_id == actor.organization_id,
            ImportMapping.kind == kind,
            ImportMapping.name == name,
        )
    )
    if row is None:
        raise MappingNotFound(f"no {kind} mapping {name!r}")
    return row


def list_mappings(session: Session, actor: Actor, kind: str | None = None) -> list[ImportMapping]:
    query = select(ImportMapping).where(ImportMapping.organization_id == actor.organization_id)
    if kind:
        query = query.where(ImportMapping.kind == kind)
    return list(session.scalars(query.order_by(ImportMapping.kind, ImportMapping.name)))


def delete_mapping(session: Session, actor: Actor, kind: str, name: str) -> None:
    row = get_mapping(session, actor, kind, name)
    session.delete(row)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="imports:mapping:delete",
        target_type="import_mapping",
        target_id=row.id,
        details={"kind": kind, "name": name},
    )


# ---------------------------------------------------------------- creating


def count_rows(path: Path, file_format: str) -> int:
    """Read the file through once (streaming) so a file that breaks halfway (bad UTF-8, broken
    CSV quoting, a damaged XLSX sheet) is refused before any row is imported; the count is
    also the progress total."""
    if file_format == FileFormat.csv:
        check_utf8(path)
    with open_table(path, file_format) as table:
        return sum(1 for _ in table.rows)


def create(
    session: Session,
    actor: Actor,
    kind: ImportKind,
    facts: FileFacts,
    *,
    mapping_name: str | None = None,
    columns: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    stored_path: Path | None = None,
    rows_total: int | None = None,
) -> Import:
    """Check the file's headers against the mapping and record a pending import.

    The mapping is resolved now and stored on the import, so a resumed import reads the file
    the same way even if the saved mapping changed meanwhile. Callers pass ``rows_total`` from
    :func:`count_rows`, run before their unit of work, so the read-through of a large file does
    not hold the database's write lock.
    """
    _check_kind_allowed(actor, kind)
    explicit: dict[str, str] = {}
    raw_options: dict[str, Any] = {}
    if mapping_name:
        saved = get_mapping(session, actor, kind, mapping_name)
        explicit.update(saved.columns)
        raw_options.update(saved.options)
    explicit.update(columns or {})
    raw_options.update(options or {})
    merged = MappingIn.model_validate({"columns": explicit, "options": raw_options})
    try:
        total = count_rows(facts.path, facts.format) if rows_total is None else rows_total
        with open_table(facts.path, facts.format) as table:
            found = cols.resolve(kind, table.headers, merged.columns)
            headers = table.headers
            labels = cols.labels(headers)
    except FileError as exc:
        raise ImportFileInvalid([{"field": "file", "message": str(exc), "type": "file"}]) from None
    except cols.ColumnError as exc:
        raise ImportFileInvalid(
            [
                {"field": p["field"], "message": p["message"], "type": "columns"}
                for p in exc.problems
            ]
        ) from None
    now = utcnow()
    row = Import(
        id=uuid7(),
        organization_id=actor.organization_id,
        kind=kind,
        livemode=actor.livemode,
        actor=actor.name,
        filename=facts.filename[:300],
        format=facts.format,
        sha256=facts.sha256,
        size_bytes=facts.size_bytes,
        stored_path=str(stored_path) if stored_path else None,
        mapping_name=mapping_name,
        mapping={
            "columns": {name: labels[i] for name, i in found.items()},
            "indexes": found,
            "headers": [h or f"column {i + 1}" for i, h in enumerate(headers)],
            "options": merged.options.model_dump(mode="json"),
        },
        status=ImportStatus.pending,
        rows_total=total,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="imports:import:create",
        target_type="import",
        target_id=row.id,
        details={
            "kind": kind,
            "filename": row.filename,
            "sha256": facts.sha256,
            "mapping": mapping_name,
            "livemode": actor.livemode,
        },
    )
    return row


def abandoned(session: Session, *, idle_since: datetime) -> list[tuple[uuid.UUID, str]]:
    """Uploaded imports nobody has moved since ``idle_since``: (id, stored file), oldest first.

    A running import touches ``updated_at`` with every chunk, so one that stays still that long
    lost its process (a crash, a restart).
    """
    rows = session.execute(
        select(Import.id, Import.stored_path)
        .where(
            Import.status.in_([ImportStatus.pending, ImportStatus.running]),
            Import.stored_path.is_not(None),
            Import.updated_at < idle_since,
        )
        .order_by(Import.id)
    )
    return [(row.id, row.stored_path) for row in rows if row.stored_path]


def stored_file(session: Session, import_id: uuid.UUID) -> str | None:
    return session.scalar(select(Import.stored_path).where(Import.id == import_id))


def unfinished(session: Session, actor: Actor, kind: str, sha256: str) -> Import | None:
    """An import of this very file that has not finished (the CLI resumes it)."""
    return session.scalar(
        select(Import)
        .where(
            Import.organization_id == actor.organization_id,
            Import.livemode == actor.livemode,
            Import.kind == kind,
            Import.sha256 == sha256,
            Import.status.in_([ImportStatus.pending, ImportStatus.running]),
        )
        .order_by(Import.id.desc())
        .limit(1)
    )


# ---------------------------------------------------------------- running


@dataclass
class Progress:
    rows_read: int
    rows_total: int | None
    accepted: int
    replayed: int
    rejected: int
    rewards: int


def _actor_of(imp: Import) -> Actor:
    return Actor(name=imp.actor, organization_id=imp.organization_id, livemode=imp.livemode)


def _column_of(
    field: str, mapping: dict[str, Any], time_field: str | None = "completion_date"
) -> tuple[str, str]:
    name = field.split(".", maxsplit=1)[0]
    if name == "occurred_at":
        name = time_field or "(row)"
    return mapping["columns"].get(name, "(row)"), name


def _options(imp: Import, table: Table) -> parse.Options:
    return parse.Options.of(
        imp.mapping["options"],
        delimiter=table.delimiter,
        epoch=table.epoch,
        imported_at=imp.created_at,
    )


def _completions_chunk(
    session: Session, imp: Import, rows: list[Row], table: Table
) -> tuple[dict[str, int], list[tuple[Row, list[dict[str, str]]]]]:
    options = _options(imp, table)
    indexes: dict[str, int] = imp.mapping["indexes"]
    headers: list[str | None] = list(cols.labels(table.headers))
    good: list[tuple[Row, parse.CompletionRow]] = []
    bad: list[tuple[Row, list[dict[str, str]]]] = []
    for row in rows:
        try:
            good.append((row, parse.completion(row, indexes, headers, options)))
        except parse.RowErrors as exc:
            bad.append((row, exc.errors))
    counts = {"accepted": 0, "replayed": 0, "rewards": 0}
    good, overrides = _with_overrides(session, imp, good, bad)
    if good:
        answers = events.ingest_many(
            session,
            _actor_of(imp),
            [g.item for _, g in good],
            source=SOURCE,
            payloads=[
                {
                    **g.payload,
                    "import_id": str(imp.id),
                    **({"amount_override": o.to_json()} if o is not None else {}),
                }
                for (_, g), o in zip(good, overrides, strict=True)
            ],
            overrides=overrides,
        )
        for (row, g), answer in zip(good, answers, strict=True):
            if isinstance(answer, events.EventIdConflict) and g.time_field is None:
                # Recorded before, at that import's time: no date tells a new record from it.
                counts["replayed"] += 1
            elif isinstance(answer, AppError):
                bad.append((row, _errors_of(answer, imp.mapping, g.time_field)))
            elif answer.replayed:
                counts["replayed"] += 1
            else:
                counts["accepted"] += 1
                counts["rewards"] += len(answer.rewards)
    return counts, bad


def _with_overrides(
    session: Session,
    imp: Import,
    good: list[tuple[Row, parse.CompletionRow]],
    bad: list[tuple[Row, list[dict[str, str]]]],
) -> tuple[list[tuple[Row, parse.CompletionRow]], list[Money | None]]:
    """Read each amount override as exact money in the currency of the programs in force when
    the completion happened; a row whose override cannot be joins ``bad`` with the reason."""
    kept: list[tuple[Row, parse.CompletionRow]] = []
    overrides: list[Money | None] = []
    column = _column_of("amount", imp.mapping)[0]
    for row, good_row in good:
        wanted = good_row.override
        if wanted is None:
            kept.append((row, good_row))
            overrides.append(None)
            continue
        paying = programs.currencies_in_force(
            session, imp.organization_id, good_row.item.occurred_at
        )
        try:
            money = _override_money(str(wanted["amount"]), wanted["currency"], paying)
        except ValueError as exc:
            bad.append((row, [{"column": column, "field": "amount", "reason": str(exc)}]))
            continue
        kept.append((row, good_row))
        overrides.append(money)
    return kept, overrides


def _override_money(amount: str, named: str | None, paying: set[str]) -> Money | None:
    """The override in the program currency, or why it cannot be (ValueError)."""
    if not paying:
        # No program is in force: nothing pays, so there is nothing to override.
        return Money.parse(amount, named) if named else None
    if named is not None and paying != {named}:
        raise ValueError(
            f"the amount override is in {named}; the programs in force then pay in "
            f"{' and '.join(sorted(paying))}"
        )
    if named is None and len(paying) > 1:
        raise ValueError(
            f"the programs in force then pay in {' and '.join(sorted(paying))}: add a currency "
            "column (or options.currency) to say which the amount override is in"
        )
    code = named or next(iter(paying))
    try:
        return Money.parse(amount, code)
    except ValueError as exc:
        raise ValueError(f"not exact money in the program currency: {exc}") from exc


def _errors_of(
    error: AppError, mapping: dict[str, Any], time_field: str | None
) -> list[dict[str, str]]:
    if isinstance(error, events.EventIdConflict):
        return [
            {
                "column": "(row)",
                "field": "event_id",
                "reason": "this learner, course and completion time were imported before with "
                "other details (name, score, department…); the first import stands",
            }
        ]
    if isinstance(error.detail, list):
        out = []
        for d in error.detail:
            column, name = _column_of(str(d.get("field", "")), mapping, time_field)
            out.append({"column": column, "field": name, "reason": str(d.get("message"))})
        return out
    return [{"column": "(row)", "field": "(row)", "reason": f"{error.code}: {error.detail}"}]


def _roster_chunk(
    session: Session,
    imp: Import,
    rows: list[Row],
    table: Table,
    *,
    date_order: parse.DateOrder | None = None,
) -> tuple[dict[str, int], list[tuple[Row, list[dict[str, str]]]]]:
    """Rows of one employee id merge into one entry (:func:`laurel.roster.service.add`);
    rows kept with warnings join the rejected ones in ``import_rejections`` (their problems
    say ``severity: warning``) and count as accepted."""
    options = _options(imp, table)
    indexes: dict[str, int] = imp.mapping["indexes"]
    headers: list[str | None] = list(cols.labels(table.headers))
    good: list[parse.RosterRow] = []
    bad: list[tuple[Row, list[dict[str, str]]]] = []
    for row in rows:
        try:
            entry = parse.roster(row, indexes, headers, options, date_order=date_order)
        except parse.RowErrors as exc:
            bad.append((row, exc.errors))
            continue
        good.append(entry)
        if entry.warnings:
            bad.append((row, list(entry.warnings)))
    roster_id = roster.start(session, imp.organization_id, imp.id)
    roster.add(session, imp.organization_id, roster_id, good)
    return {"accepted": len(good), "replayed": 0, "rewards": 0}, bad


def _roster_work(mapping: dict[str, Any], path: Path, file_format: str) -> ChunkWork:
    """The chunk work of a roster import, with the order of the file's numeric hire dates
    (:func:`laurel.imports.parse.date_order`): read from the whole file before the first chunk,
    and again, the same, when the import resumes."""
    column = mapping["indexes"].get("hire_date")
    if column is None or mapping["options"].get("date_format"):
        return _roster_chunk
    with open_table(path, file_format) as table:
        order = parse.date_order(
            row.cells[column] if column < len(row.cells) else None for row in table.rows
        )
    return partial(_roster_chunk, date_order=order)


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def run(
    db: Database,
    import_id: uuid.UUID,
    path: Path,
    *,
    chunk_rows: int = CHUNK_ROWS,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> uuid.UUID:
    """Process a pending or interrupted import to the end. Safe to call again after a crash.

    With ``stop`` set, returns after the chunk in hand; the import stays ``running`` and a later
    call continues it.
    """
    with db.session() as session:
        imp = session.get(Import, import_id)
        if imp is None:
            raise ImportNotFound(f"no import {import_id}")
        if imp.status in (ImportStatus.completed, ImportStatus.failed):
            return import_id
        session.execute(
            update(Import)
            .where(Import.id == import_id, Import.status == ImportStatus.pending)
            .values(status=ImportStatus.running, updated_at=utcnow())
        )
        cursor, kind, mapping = imp.rows_read, imp.kind, imp.mapping
    file_format = _format_of(db, import_id)
    process: ChunkWork = _completions_chunk
    try:
        if kind == ImportKind.roster:
            process = _roster_work(mapping, path, file_format)
        with open_table(path, file_format) as table:
            rows = islice(table.rows, cursor, None)
            for chunk in _chunks(rows, chunk_rows):
                cursor = retry_conflicts(
                    partial(_commit_chunk, db, import_id, cursor, chunk, table, process),
                    what=f"import {import_id}: the chunk at row {cursor}",
                )
                if on_progress is not None:
                    on_progress(_progress(db, import_id))
                if stop is not None and stop.is_set():
                    return import_id
    except FileError as exc:
        _fail(db, import_id, str(exc))
        raise ImportFileInvalid([{"field": "file", "message": str(exc), "type": "file"}]) from None
    _finish(db, import_id, cursor)
    if on_progress is not None:
        on_progress(_progress(db, import_id))
    return import_id


ChunkWork = Callable[
    [Session, Import, list[Row], Table],
    tuple[dict[str, int], list[tuple[Row, list[dict[str, str]]]]],
]
"""Processes one chunk's rows in the chunk's transaction: (counts, rejected rows with errors)."""


def _format_of(db: Database, import_id: uuid.UUID) -> str:
    with db.read_session() as session:
        fmt = session.scalar(select(Import.format).where(Import.id == import_id))
    assert fmt is not None
    return fmt


def _commit_chunk(
    db: Database,
    import_id: uuid.UUID,
    cursor: int,
    chunk: list[Row],
    table: Table,
    process: ChunkWork,
) -> int:
    with db.session() as session:
        # The guard: only the process that read this cursor may do these rows.
        moved = session.execute(
            update(Import)
            .where(
                Import.id == import_id,
                Import.rows_read == cursor,
                Import.status == ImportStatus.running,
            )
            .values(rows_read=cursor + len(chunk), updated_at=utcnow())
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise ImportBusy(
                f"import {import_id} moved on elsewhere (another process is running it)"
            )
        imp = session.get(Import, import_id)
        assert imp is not None
        counts, bad = process(session, imp, chunk, table)
        rejected = sum(1 for _, errors in bad if not _warnings_only(errors))
        if bad:
            ordered = sorted(bad, key=lambda b: b[0].line)
            # The cells may name a person nobody could be matched to: sealed under the ring.
            cells = sealing.seal_many(
                session,
                imp.organization_id,
                sealing.IMPORT_VALUES,
                [(None, row.cells) for row, _ in ordered],
            )
            session.execute(
                insert(ImportRejection),
                [
                    {
                        "id": uuid7(),
                        "organization_id": imp.organization_id,
                        "created_at": utcnow(),
                        "import_id": import_id,
                        "line": row.line,
                        "errors": errors,
                        "values": [],
                        "values_sealed": sealed,
                    }
                    for (row, errors), sealed in zip(ordered, cells, strict=True)
                ],
            )
        session.execute(
            update(Import)
            .where(Import.id == import_id)
            .values(
                accepted=Import.accepted + counts["accepted"],
                replayed=Import.replayed + counts["replayed"],
                rewards=Import.rewards + counts["rewards"],
                rejected=Import.rejected + rejected,
                warnings=Import.warnings + len(bad) - rejected,
            )
        )
        crash_point("imports.before_chunk_commit")
    crash_point("imports.after_chunk_commit")
    return cursor + len(chunk)


def _warnings_only(errors: list[dict[str, str]]) -> bool:
    """The row was imported: every problem it lists is a warning (``parse.WARNING``)."""
    return all(e.get("severity") == parse.WARNING for e in errors)


def _roster_refusal(session: Session, imp: Import) -> str | None:
    """Why this roster must not become the latest, or None.

    A roster replaces the previous one whole: every learner missing from it is held
    ``not_on_roster``. A file most of whose rows were rejected (a wrong export, a date format
    the mapping does not name) would hold nearly everyone, so it is refused when no row, or
    not even half of its rows, could be read.
    """
    rows, rejected = imp.rows_read, imp.rejected
    if imp.accepted > 0 and rejected * 2 <= rows:
        return _shrink_refusal(session, imp)
    if rows == 0:
        what = "the file has no data rows"
    elif imp.accepted == 0:
        what = f"none of its {rows} data rows could be read ({rejected} rejected)"
    else:
        what = f"{rejected} of its {rows} data rows were rejected, more than half"
    previous = roster.latest(session, imp.organization_id)
    if previous is None or previous.completed_at is None:
        stays = (
            "no roster was in force before it, so roster-verified programs keep holding "
            "their rewards"
        )
    else:
        stays = (
            f"the roster of {previous.completed_at.date().isoformat()} (import "
            f"{previous.import_id}) stays in force and rewards held not_on_roster were not "
            "checked again"
        )
    return (
        f"roster not applied: {what}; {stays}. Fix the rows listed in the rejections CSV (or "
        "the mapping) and import the whole file again"
    )


SHRINK_FLOOR = 20
"""A roster in force with fewer active workers is replaced whatever the size of the new one:
at that size a halving is an ordinary change, not a sign of a partial export."""


def _shrink_refusal(session: Session, imp: Import) -> str | None:
    """A roster that reads cleanly but lists fewer than half the active workers of the one in
    force.

    That is how a partial export looks (one country's or one department's workers, a report
    filtered by mistake): applied, it would hold the rewards of every active worker it leaves
    out until the next roster. Active workers only are counted: an export that stops listing
    terminated workers holds nobody who could be paid. Refused unless the import says the cut
    is meant (``replace_smaller``).
    """
    if imp.mapping.get("options", {}).get("replace_smaller"):
        return None
    previous = roster.latest(session, imp.organization_id)
    if previous is None or previous.completed_at is None:
        return None
    before = roster.active_workers(session, previous.import_id)
    if before < SHRINK_FLOOR:
        return None
    now = roster.active_workers(session, imp.id)
    if now * 2 >= before:
        return None
    return (
        f"roster not applied: it lists {now} active workers, fewer than half of the {before} "
        f"on the roster of {previous.completed_at.date().isoformat()} (import "
        f"{previous.import_id}), which stays in force; applied, it would hold the rewards of "
        "every worker it leaves out. Import the whole export, or import this file again with "
        'the option replace_smaller (API: options {"replace_smaller": true}; CLI: '
        "--replace-smaller) if the cut is meant"
    )


def _refuse_roster(session: Session, imp: Import, reason: str) -> None:
    """End a roster import as failed, in the transaction that would have completed it: its
    entries are deleted and the previous roster stays the latest."""
    now = utcnow()
    imp.status = ImportStatus.failed
    imp.error = reason[:2000]
    imp.finished_at = now
    imp.updated_at = now
    deleted = roster.discard(session, imp.organization_id, imp.id)
    audit.record(
        session,
        organization_id=imp.organization_id,
        actor=imp.actor,
        action="imports:import:refuse",
        target_type="import",
        target_id=imp.id,
        details={
            "rows": imp.rows_read,
            "accepted": imp.accepted,
            "rejected": imp.rejected,
            "warnings": imp.warnings,
            "entries_discarded": deleted,
            "reason": imp.error,
        },
    )


def _finish(db: Database, import_id: uuid.UUID, cursor: int) -> None:
    with db.session() as session:
        imp = session.get(Import, import_id)
        assert imp is not None
        if imp.status != ImportStatus.running or imp.rows_read != cursor:
            return
        refusal = _roster_refusal(session, imp) if imp.kind == ImportKind.roster else None
        if refusal is not None:
            _refuse_roster(session, imp, refusal)
        else:
            _complete(session, imp)
    if imp.stored_path:
        Path(imp.stored_path).unlink(missing_ok=True)


def _complete(session: Session, imp: Import) -> None:
    now = utcnow()
    imp.status = ImportStatus.completed
    imp.finished_at = now
    imp.updated_at = now
    details: dict[str, Any] = {
        "rows": imp.rows_read,
        "accepted": imp.accepted,
        "replayed": imp.replayed,
        "rejected": imp.rejected,
        "warnings": imp.warnings,
        "rewards": imp.rewards,
    }
    if imp.kind == ImportKind.roster:
        roster_id = roster.start(session, imp.organization_id, imp.id)
        filled, released = roster.complete(session, imp.organization_id, roster_id, imp.actor)
        details |= {"learners_filled": filled, "rewards_released": released}
    audit.record(
        session,
        organization_id=imp.organization_id,
        actor=imp.actor,
        action="imports:import:complete",
        target_type="import",
        target_id=imp.id,
        details=details,
    )


def _fail(db: Database, import_id: uuid.UUID, reason: str) -> None:
    with db.session() as session:
        session.execute(
            update(Import)
            .where(Import.id == import_id)
            .values(status=ImportStatus.failed, error=reason[:2000], finished_at=utcnow())
        )
        imp = session.get(Import, import_id)
        if imp is not None and imp.kind == ImportKind.roster:
            # Never resumed, so its roster would never complete: the entries have no use.
            roster.discard(session, imp.organization_id, import_id)
        stored = stored_file(session, import_id)
    # A failed import is never resumed: its upload has no further use.
    if stored:
        Path(stored).unlink(missing_ok=True)


def _progress(db: Database, import_id: uuid.UUID) -> Progress:
    with db.read_session() as session:
        imp = session.get(Import, import_id)
        assert imp is not None
        return Progress(
            imp.rows_read, imp.rows_total, imp.accepted, imp.replayed, imp.rejected, imp.rewards
        )


# ---------------------------------------------------------------- reading


def get(session: Session, actor: Actor, import_id: uuid.UUID) -> Import:
    imp = session.scalar(
        select(Import).where(
            Import.organization_id == actor.organization_id, Import.id == import_id
        )
    )
    if imp is None or (imp.kind == ImportKind.completions and imp.livemode != actor.livemode):
        raise ImportNotFound(f"no import {import_id}")
    return imp


def list_imports(
    session: Session, actor: Actor, *, limit: int, cursor: uuid.UUID | None
) -> Page[Import]:
    query = select(Import).where(
        Import.organization_id == actor.organization_id, Import.livemode == actor.livemode
    )
    return paginate(session, query, Import.id, limit=limit, cursor=cursor)


def forget_rejections(
    session: Session, organization_id: uuid.UUID, import_ids: Sequence[uuid.UUID]
) -> int:
    """Delete the rejected lines of these imports (raw cells of HR files whose roster retention
    removed): the import rows stay, with their counters, as the record that they ran."""
    deleted = 0
    for start in range(0, len(import_ids), 500):
        result = session.execute(
            delete(ImportRejection).where(
                ImportRejection.organization_id == organization_id,
                ImportRejection.import_id.in_(import_ids[start : start + 500]),
            )
        )
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


def rejections(
    session: Session, import_id: uuid.UUID, *, limit: int | None = None
) -> list[ImportRejection]:
    query = (
        select(ImportRejection)
        .where(ImportRejection.import_id == import_id)
        .order_by(ImportRejection.line)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def rejections_csv(session: Session, imp: Import) -> Iterator[str]:
    """The rejected rows as they were, behind their line and reasons: fix and upload again.

    Rows imported with warnings are listed too, their reasons starting ``warning:``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    headers = _headers_of(imp)
    writer.writerow(["line", "errors", *headers])
    yield _drain(buffer)
    query = (
        select(ImportRejection)
        .where(ImportRejection.import_id == imp.id)
        .order_by(ImportRejection.line)
        .execution_options(yield_per=1000)
    )
    for rejection in session.scalars(query):
        reasons = describe(rejection.errors)
        values = sealing.value_of(rejection, sealing.IMPORT_VALUES) or []
        writer.writerow([rejection.line, reasons, *[v or "" for v in values]])
        yield _drain(buffer)


def describe(errors: list[dict[str, str]]) -> str:
    """A listed row's problems in one line; a warning (the row was imported) says so."""
    return "; ".join(
        f"{'warning: ' if e.get('severity') == parse.WARNING else ''}{e['column']}: {e['reason']}"
        for e in errors
    )


def _headers_of(imp: Import) -> list[str]:
    return list(imp.mapping.get("headers", []))


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
