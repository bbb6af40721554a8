"""``laurel points expire|reconcile``: the points jobs for cron and for auditors."""

from __future__ import annotations

from typing import Annotated

import typer

points_app = typer.Typer(help="Points ledger jobs.", no_args_is_help=True)


@points_app.command("expire")
def points_expire(
    limit: Annotated[int, typer.Option(help="Most lots expired in one run")] = 10_000,
) -> None:
    """Expire due points (FIFO lots) and record expiry notices, for every organization."""
    from laurel.cli import _actor, _database  # noqa: PLC0415 - the CLI's own helpers
    from laurel.points import expiry  # noqa: PLC0415

    with _database().session() as session:
        expired = expiry.expire_due(session, limit=limit, actor=_actor())
        notices = expiry.record_notices(session)
    typer.echo(f"{expired} lots expired; {len(notices)} expiry notices recorded")


@points_app.command("reconcile")
def points_reconcile(
    org: Annotated[str, typer.Option(help="Organization slug")],
) -> None:
    """Prove an organization's books: balanced transactions, balances equal to entries, no
    negative wallet, lots equal to wallets. Exits 1 when anything is off."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415
    from laurel.points import ledger  # noqa: PLC0415

    try:
        with _database().read_session() as session:
            organization = organizations.get_by_slug(session, org)
            check = ledger.reconcile(session, organization.id)
    except AppError as exc:
        _fail(exc, rename={"slug": "--org"})
    typer.echo(
        f"{check.transactions} transactions, {check.entries} entries, sum {check.total}; "
        f"unbalanced {len(check.unbalanced)}, drifted balances {len(check.drifted)}, "
        f"negative wallets {len(check.negative_wallets)}, "
        f"lot mismatches {len(check.lot_mismatches)}"
    )
    if not check.ok:
        raise typer.Exit(1)
