"""``laurel approvals expire``: expire lapsed approvals and undecided requests now (the worker
also does it)."""

from __future__ import annotations

import typer

approvals_app = typer.Typer(help="Approval requests and decisions.", no_args_is_help=True)


@approvals_app.command("expire")
def expire() -> None:
    """Expire approvals that lapsed before their reward started issuing (the rewards wait for
    a new decision) and requests left undecided past their deadline (the rewards are
    cancelled, reason approval_expired)."""
    from laurel.approvals import service  # noqa: PLC0415 - keeps `laurel --help` fast
    from laurel.cli import _actor, _database  # noqa: PLC0415 - the CLI's own helpers

    total = 0
    with _database().session() as session:
        while True:
            expired = service.sweep(session, actor=_actor())
            total += expired
            if expired == 0:
                break
    typer.echo(f"{total} approvals expired")
