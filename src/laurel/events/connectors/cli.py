"""``laurel events replay`` and ``laurel connectors poll``: one unit of work per dead letter or
per poll, so one failure does not undo the others."""

from __future__ import annotations

import getpass
import uuid
from typing import Annotated

import typer

events_app = typer.Typer(help="Completion events: dead letters.", no_args_is_help=True)
connectors_app = typer.Typer(help="LMS connectors: polling.", no_args_is_help=True)


def _actor_name() -> str:
    return f"cli:{getpass.getuser()}"


@events_app.command("replay")
def replay(
    org: Annotated[str, typer.Option(help="Organization slug")],
    letter_id: Annotated[
        list[str] | None, typer.Option("--id", help="A dead letter id (repeatable)")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every open dead letter")] = False,
    connector: Annotated[str | None, typer.Option(help="Only this connector's")] = None,
    test: Annotated[bool, typer.Option("--test", help="Test-mode dead letters")] = False,
) -> None:
    """Run dead letters through the current mapping; print what each became."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.events.connectors import intake  # noqa: PLC0415
    from laurel.kit.actor import Actor  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    if not letter_id and not replay_all:
        _fail("give --id ID (repeatable) or --all")
    if letter_id and replay_all:
        _fail("give either --id or --all, not both")
    database = _database()
    try:
        with database.read_session() as session:
            organization_id = organizations.get_by_slug(session, org).id
            ids = (
                [uuid.UUID(i) for i in letter_id]
                if letter_id
                else intake.open_letter_ids(
                    session, organization_id, livemode=not test, connector=connector
                )
            )
    except AppError as exc:
        _fail(exc)
    except ValueError as exc:
        _fail(f"--id: {exc}")
    actor = Actor(name=_actor_name(), organization_id=organization_id, livemode=not test)
    still_open = 0
    for one in ids:
        try:
            with database.session() as session:
                outcome = intake.replay(session, actor, one)
                letter = outcome.dead_letter
                assert letter is not None
                state, message = letter.state, letter.message
        except AppError as exc:
            typer.echo(f"{one}: error: {exc.detail}", err=True)
            still_open += 1
            continue
        if state != "resolved":
            still_open += 1
        typer.echo(
            f"{one}: {state} (accepted {outcome.accepted}, replayed {outcome.replayed}, "
            f"ignored {outcome.ignored})" + ("" if state == "resolved" else f": {message}")
        )
    typer.echo(f"{len(ids)} replayed, {still_open} still open")
    if still_open:
        raise typer.Exit(1)


@connectors_app.command("poll")
def poll(
    connector: Annotated[str, typer.Argument(help="A polled connector: talentlms")],
    org: Annotated[str, typer.Option(help="Organization slug")],
    test: Annotated[bool, typer.Option("--test", help="Poll with the test-mode API key")] = False,
) -> None:
    """Poll a source once, store what is new, move its cursor."""
    import httpx  # noqa: PLC0415

    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.config import get_settings  # noqa: PLC0415
    from laurel.events.connectors import polling  # noqa: PLC0415
    from laurel.events.connectors.secretbox import SecretBox  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    if connector != polling.CONNECTOR:
        _fail(f"{connector} is not polled; only {polling.CONNECTOR} is")
    box = SecretBox(get_settings().secret_key)
    database = _database()
    try:
        with database.read_session() as session:
            organization_id = organizations.get_by_slug(session, org).id
        report = polling.poll(
            database, box, organization_id, livemode=not test, actor_name=_actor_name()
        )
    except AppError as exc:
        _fail(exc)
    except httpx.HTTPError as exc:
        _fail(f"TalentLMS did not answer as expected: {exc}")
    typer.echo(
        f"{report.courses} courses, {report.read} completions read: "
        f"{report.accepted} stored, {report.replayed} already stored, "
        f"{len(report.dead_letters)} dead letters"
        + (f" ({', '.join(report.dead_letters)})" if report.dead_letters else "")
    )
