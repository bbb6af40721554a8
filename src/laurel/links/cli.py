"""``laurel links expire``: expire open reward links past their time (run it from cron)."""

from __future__ import annotations

import typer

links_app = typer.Typer(help="Reward links.", no_args_is_help=True)


@links_app.command("expire")
def links_expire() -> None:
    """Mark links past their lifetime expired (visits do it too; this catches the unvisited)."""
    from laurel.cli import _actor, _database  # noqa: PLC0415 - the CLI's own helpers
    from laurel.kit.clock import utcnow  # noqa: PLC0415
    from laurel.links import service  # noqa: PLC0415

    database, total = _database(), 0
    while True:  # in batches: each a short transaction
        with database.session() as session:
            count = service.expire_due(session, now=utcnow(), actor=_actor())
        total += count
        if count == 0:
            break
    typer.echo(f"{total} links expired")
