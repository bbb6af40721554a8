"""``laurel fx import|refresh|rates|convert|fee``: exchange rates from the command line."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

fx_app = typer.Typer(help="Exchange rates (ECB reference rates).", no_args_is_help=True)

Day = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Day, YYYY-MM-DD (default today)")
]


def _day(value: datetime | None) -> date:
    from laurel.kit.clock import utcnow  # noqa: PLC0415

    return value.date() if value else utcnow().date()


def _import(source: str, origin: str) -> None:
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.fx import ecb, service, sources  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415

    try:
        name, content = sources.fetch(source)
        parsed = ecb.parse(content, name)
        with _database().session() as session:
            stored = service.store(session, parsed, source=origin, actor=_actor())
    except AppError as exc:
        _fail(exc, rename={"source": "PATH_OR_URL"})
    typer.echo(
        f"{stored.inserted} rates imported, {stored.unchanged} already stored; "
        f"{stored.days} days from {stored.first_day} to {stored.last_day}"
    )
    if stored.skipped_currencies:
        typer.echo(f"skipped legacy codes: {', '.join(stored.skipped_currencies)}")
    for problem in stored.problems[:20]:
        typer.echo(f"problem: {problem}", err=True)
    if len(stored.problems) > 20:
        typer.echo(f"... and {len(stored.problems) - 20} more problems", err=True)


@fx_app.command("import")
def fx_import(
    source: Annotated[str, typer.Argument(metavar="PATH_OR_URL", help="CSV, XML or ZIP")],
    origin: Annotated[str, typer.Option("--source", help="Publisher name")] = "ecb",
) -> None:
    """Import ECB reference rates (eurofxref.csv, eurofxref-hist.csv, their ZIPs, or XML)."""
    _import(source, origin)


@fx_app.command("refresh")
def fx_refresh() -> None:
    """Import from LAUREL_FX_RATES_URL (for cron); does nothing when it is unset."""
    from laurel.config import get_settings  # noqa: PLC0415

    url = get_settings().fx_rates_url
    if not url:
        typer.echo("LAUREL_FX_RATES_URL is not set: nothing to refresh")
        return
    _import(url, "ecb")


@fx_app.command("rates")
def fx_rates(on: Day = None) -> None:
    """The newest rate of each currency on a day."""
    from laurel.cli import _database  # noqa: PLC0415
    from laurel.fx import service  # noqa: PLC0415

    with _database().read_session() as session:
        for r in service.rates_on(session, _day(on)):
            typer.echo(f"{r.base}/{r.quote}  {r.rate:>14}  {r.rate_date}  {r.source}")


@fx_app.command("convert")
def fx_convert(
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 25.00")],
    currency: Annotated[str, typer.Argument(help="ISO 4217 code of the amount")],
    to: Annotated[str, typer.Argument(help="ISO 4217 code to convert into")],
    org: Annotated[str | None, typer.Option(help="Organization slug (applies its FX fee)")] = None,
    on: Day = None,
) -> None:
    """Convert an amount at a day's rate (with an organization's fee when --org is given)."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.fx import service  # noqa: PLC0415
    from laurel.kit.errors import AppError, field_error  # noqa: PLC0415
    from laurel.kit.money import Money  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    try:
        try:
            money = Money.parse(amount, currency.upper())
        except ValueError as exc:
            raise field_error("amount", str(exc)) from None
        with _database().read_session() as session:
            if org:
                organization = organizations.get_by_slug(session, org)
                done = service.convert(session, organization.id, money, to.upper(), _day(on))
            else:
                factor, day, source = service.rate(session, money.currency, to.upper(), _day(on))
                converted = Money.from_decimal(money.as_decimal() * factor, to.upper())
                typer.echo(f"{money} = {converted} at {factor} ({source}, {day})")
                return
    except AppError as exc:
        _fail(exc)
    typer.echo(
        f"{done.original} = {done.converted} after fee {done.fee} "
        f"at {done.rate} ({done.source}, {done.rate_date})"
    )


@fx_app.command("fee")
def fx_fee(
    org: Annotated[str, typer.Option(help="Organization slug")],
    bps: Annotated[int, typer.Argument(help="Basis points of a converted reward, 0–2000")],
) -> None:
    """Set an organization's FX fee."""
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415
    from laurel.fx import service  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    try:
        with _database().session() as session:
            organization = organizations.get_by_slug(session, org)
            service.set_fee(session, organization.id, bps, actor=_actor())
    except AppError as exc:
        _fail(exc)
    typer.echo(f"FX fee for {org}: {bps} bps")
