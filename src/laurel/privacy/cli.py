"""``laurel privacy …``: data-subject requests, reminders and retention from the command line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from laurel.kit.actor import Actor

privacy_app = typer.Typer(help="Privacy requests, reminders and retention.", no_args_is_help=True)
request_app = typer.Typer(help="Data-subject requests.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention policies.", no_args_is_help=True)
privacy_app.add_typer(request_app, name="request")
privacy_app.add_typer(retention_app, name="retention")

Org = Annotated[str, typer.Option(help="Organization slug")]


def _caller(session: Session, org: str) -> Actor:
    from laurel.cli import _actor  # noqa: PLC0415
    from laurel.kit.actor import Actor  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    organization = organizations.get_by_slug(session, org)
    return Actor(name=_actor(), organization_id=organization.id)


def _show(request: object) -> str:
    from laurel.privacy.schemas import PrivacyRequestOut  # noqa: PLC0415

    return PrivacyRequestOut.model_validate(request).model_dump_json(indent=2)


@request_app.command("open")
def open_request(
    org: Org,
    learner_id: Annotated[uuid.UUID, typer.Option(help="The learner's Laurel id")],
    kind: Annotated[str, typer.Option(help="access, deletion, correction or opt_out")],
    corrections: Annotated[
        str | None, typer.Option(help='Correction requests: JSON such as {"name": "…"}')
    ] = None,
) -> None:
    """Open a request; prints it (with its deadline) as JSON."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.kit.errors import AppError, field_error  # noqa: PLC0415
    from laurel.privacy import service  # noqa: PLC0415
    from laurel.privacy.models import RequestKind  # noqa: PLC0415

    try:
        wanted = RequestKind(kind)
    except ValueError:
        _fail(field_error("--kind", "use access, deletion, correction or opt_out"))
    try:
        fields = json.loads(corrections) if corrections else None
    except ValueError as exc:
        _fail(field_error("--corrections", f"not JSON: {exc}"))
    try:
        with _database().session() as session:
            made = service.open_request(
                session,
                _caller(session, org),
                learner_id=learner_id,
                kind=wanted,
                corrections=fields,
            )
            typer.echo(_show(made))
    except AppError as exc:
        _fail(exc)


@request_app.command("list")
def list_requests(
    org: Org,
    status: Annotated[str | None, typer.Option(help="open, completed or refused")] = None,
) -> None:
    """Requests, soonest deadline first: id, kind, jurisdiction, status, due."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.privacy import service  # noqa: PLC0415
    from laurel.privacy.models import RequestStatus  # noqa: PLC0415

    try:
        with _database().read_session() as session:
            rows = service.list_requests(
                session,
                _caller(session, org),
                status=RequestStatus(status) if status else None,
            )
            for r in rows:
                typer.echo(
                    f"{r.id}  {r.kind:<10} {r.jurisdiction:<6} {r.status:<9} "
                    f"due {r.due_at.isoformat(timespec='minutes')}"
                )
    except (AppError, ValueError) as exc:
        _fail(exc)


@request_app.command("archive")
def archive(
    org: Org,
    request_id: uuid.UUID,
    output: Annotated[Path, typer.Option(help="Where to write the zip")],
) -> None:
    """Write an access request's archive (JSON + CSV in a zip); audited, answers the request."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.config import get_settings  # noqa: PLC0415
    from laurel.kit.crypto import ring_from_settings  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.privacy import service  # noqa: PLC0415

    try:
        with _database().session() as session:
            made = service.access_archive(
                session, _caller(session, org), request_id, ring_from_settings(get_settings())
            )
            output.write_bytes(made.content)
    except AppError as exc:
        _fail(exc)
    typer.echo(f"{output}: {len(made.content)} bytes")


@request_app.command("fulfil")
def fulfil(org: Org, request_id: uuid.UUID) -> None:
    """Carry out a deletion, correction or opt-out; prints the answer (what is kept, until when)."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.privacy import service  # noqa: PLC0415

    try:
        with _database().session() as session:
            done = service.fulfil(session, _caller(session, org), request_id)
            typer.echo(_show(done))
    except AppError as exc:
        _fail(exc)


@privacy_app.command("remind")
def remind() -> None:
    """Remind open requests due within 7 days or overdue (once a day each); exit 0."""
    from laurel.cli import _database  # noqa: PLC0415
    from laurel.kit.clock import utcnow  # noqa: PLC0415
    from laurel.privacy import service  # noqa: PLC0415

    with _database().session() as session:
        due = service.remind(session, now=utcnow())
        for r in due:
            state = "OVERDUE" if r.due_at < utcnow() else "due"
            typer.echo(
                f"{r.id}  {r.kind:<10} {r.jurisdiction:<6} {state} "
                f"{r.due_at.isoformat(timespec='minutes')}"
            )
    typer.echo(f"{len(due)} request(s) reminded")


@retention_app.command("run")
def retention_run(
    org: Annotated[str | None, typer.Option(help="Only this organization")] = None,
    roster_keep: Annotated[
        int | None,
        typer.Option(
            help="HR rosters to keep per organization (default: LAUREL_ROSTER_KEEP)", min=1
        ),
    ] = None,
) -> None:
    """Pseudonymise expired personal data, delete expired financial records and HR rosters
    older than the newest few."""
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415
    from laurel.config import get_settings  # noqa: PLC0415
    from laurel.kit.clock import utcnow  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415
    from laurel.privacy import sweep  # noqa: PLC0415

    database = _database()
    try:
        with database.read_session() as session:
            only = organizations.get_by_slug(session, org).id if org else None
    except AppError as exc:
        _fail(exc)
    keep = roster_keep if roster_keep is not None else get_settings().roster_keep
    totals = sweep.retention_all(
        database, now=utcnow(), actor=_actor(), only=only, roster_keep=keep
    )
    pruned = (
        f"; pruned {totals.rosters_pruned} HR roster(s) ({totals.roster_entries_deleted} entries)"
        if totals.rosters_pruned
        else ""
    )
    typer.echo(
        f"pseudonymised {totals.pseudonymised} learner(s); deleted the financial records of "
        f"{totals.financial_deleted}{pruned}"
    )
