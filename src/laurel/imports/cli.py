"""``laurel import completions|roster FILE``: the same import as the API, from a local file.

Running the same command again after a crash (same organization, same file) resumes the
unfinished import where its last committed chunk ended.
"""

from __future__ import annotations

import gc
import getpass
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from laurel.imports.models import Import

import_app = typer.Typer(
    help="Batch imports: LMS completion reports and HR rosters.", no_args_is_help=True
)

Org = Annotated[str, typer.Option(help="Organization slug")]
Mapping = Annotated[str | None, typer.Option(help="Name of a saved column mapping")]
Rejects = Annotated[
    Path | None, typer.Option(help="Write every rejected row, with its reasons, to this CSV")
]


def _facts(path: Path) -> Any:
    from laurel.imports.readers import detect_format  # noqa: PLC0415
    from laurel.imports.service import FileFacts  # noqa: PLC0415

    digest = hashlib.sha256()
    head = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            head = head or chunk[:8]
            digest.update(chunk)
    return FileFacts(
        path.name, path, path.stat().st_size, digest.hexdigest(), detect_format(path.name, head)
    )


def _run(
    kind: str,
    file: Path,
    org: str,
    mapping: str | None,
    test: bool,
    rejects: Path | None,
    chunk_rows: int,
    options: dict[str, Any] | None = None,
) -> None:
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from laurel.cli import _database, _fail, _tune_gc  # noqa: PLC0415
    from laurel.imports import service  # noqa: PLC0415
    from laurel.imports.models import Import, ImportKind  # noqa: PLC0415
    from laurel.imports.readers import FileError  # noqa: PLC0415
    from laurel.kit.actor import Actor  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    if not file.is_file():
        _fail(f"no file {file}")
    database = _database()
    facts = _facts(file)
    try:
        with database.read_session() as session:
            organization = organizations.get_by_slug(session, org)
            actor = Actor(
                name=f"cli:{getpass.getuser()}",
                organization_id=organization.id,
                livemode=not test,
                scopes=frozenset({"admin"}),
            )
            existing = service.unfinished(session, actor, kind, facts.sha256)
            resume = (existing.id, existing.rows_total, existing.rows_read) if existing else None
        if resume is not None:
            import_id, total, done_rows = resume
            typer.echo(f"resuming import {import_id} after row {done_rows}", err=True)
        else:
            try:
                total = service.count_rows(file, facts.format)
            except FileError as exc:
                _fail(exc)
            with database.session() as session:
                imp = service.create(
                    session,
                    actor,
                    ImportKind(kind),
                    facts,
                    mapping_name=mapping,
                    options=options,
                    rows_total=total,
                )
                import_id = imp.id
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "accepted {task.fields[accepted]} · replayed {task.fields[replayed]} · "
                "rejected {task.fields[rejected]}"
            ),
            TimeElapsedColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task(
                f"{kind} {file.name}", total=total, accepted=0, replayed=0, rejected=0
            )

            def show(p: service.Progress) -> None:
                bar.update(
                    task,
                    completed=p.rows_read,
                    accepted=p.accepted,
                    replayed=p.replayed,
                    rejected=p.rejected,
                )

            # Start-up is done: what is alive now lives to the end, and a long file allocates
            # (and frees) millions of short-lived objects. A chunk frees nearly all it made, so
            # young collections can wait longer than a server's (a few MB more between them).
            _tune_gc()
            gc.set_threshold(100_000, 50, 100)
            service.run(database, import_id, file, chunk_rows=chunk_rows, on_progress=show)
    except AppError as exc:
        _fail(exc)
    with database.read_session() as session:
        done = session.get(Import, import_id)
        assert done is not None
        refused = _summary(session, done, rejects)
    if refused:
        # A roster refused whole (most rows rejected): the previous roster stays in force.
        typer.echo(f"error: {refused}", err=True)
        raise typer.Exit(1)


def _summary(session: Session, done: Import, rejects: Path | None) -> str | None:
    """Print the outcome; answers why a failed import failed."""
    from laurel.imports import service  # noqa: PLC0415
    from laurel.imports.models import ImportStatus  # noqa: PLC0415

    warned = f", {done.warnings} with warnings" if done.warnings else ""
    typer.echo(
        f"import {done.id} {done.status}: {done.rows_read} rows, {done.accepted} accepted, "
        f"{done.replayed} already imported, {done.rejected} rejected, {done.rewards} rewards"
        f"{warned}"
    )
    for rejection in service.rejections(session, done.id, limit=20):
        typer.echo(f"  line {rejection.line}: {service.describe(rejection.errors)}", err=True)
    if done.rejected + done.warnings > 20:
        typer.echo(f"  … and {done.rejected + done.warnings - 20} more", err=True)
    if rejects is not None:
        with rejects.open("w", encoding="utf-8", newline="") as out:
            for text in service.rejections_csv(session, done):
                out.write(text)
        typer.echo(f"rejected rows written to {rejects}", err=True)
    return done.error if done.status == ImportStatus.failed else None


@import_app.command("completions")
def import_completions(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX completion report")],
    org: Org,
    mapping: Mapping = None,
    test: Annotated[bool, typer.Option("--test", help="Import as test-mode events")] = False,
    rejects: Rejects = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows per transaction", min=1, max=5000)] = 500,
) -> None:
    """Import an LMS completion report: one event per row, rewards as for any event."""
    _run("completions", file, org, mapping, test, rejects, chunk_rows)


@import_app.command("roster")
def import_roster(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX worker export (Workday, ADP, …)")],
    org: Org,
    mapping: Mapping = None,
    rejects: Rejects = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows per transaction", min=1, max=5000)] = 500,
    replace_smaller: Annotated[
        bool,
        typer.Option(
            "--replace-smaller",
            help="Apply it even if it lists fewer than half the active workers of the roster "
            "in force",
        ),
    ] = False,
) -> None:
    """Import an HR roster; it becomes the latest once every row is in."""
    options = {"replace_smaller": True} if replace_smaller else None
    _run("roster", file, org, mapping, False, rejects, chunk_rows, options)
