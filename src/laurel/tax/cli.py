"""``laurel tax export totals|iris|fire|payroll|1042s``: the finance files, written to disk.

Each command is one unit of work; the export is audited (actor ``cli:<user>``) in it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from laurel.tax.exports.common import ExportFile

tax_app = typer.Typer(help="Tax: year-end files for finance.", no_args_is_help=True)
export_app = typer.Typer(help="Write a tax export to a file.", no_args_is_help=True)
tax_app.add_typer(export_app, name="export")

Org = Annotated[str, typer.Option(help="Organization slug")]
Year = Annotated[int, typer.Option(help="Tax year (calendar year of the payments)")]
Out = Annotated[
    Path | None, typer.Option(help="File to write (default: the export's own name, here)")
]


def _run(org: str, out: Path | None, build: Callable[..., ExportFile]) -> None:
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.kit.actor import Actor  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    try:
        with _database().session() as session:
            organization = organizations.get_by_slug(session, org)
            actor = Actor(name=_actor(), organization_id=organization.id, livemode=True)
            file = build(session, actor)
    except AppError as exc:
        _fail(exc, rename={"year": "--year", "form": "--form"})
    target = out or Path(file.name)
    target.write_bytes(file.content)
    typer.echo(f"wrote {target} ({len(file.content)} bytes)")


@export_app.command("totals")
def export_totals(
    org: Org,
    year: Year,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
    out: Out = None,
) -> None:
    """Per-learner annual totals by form type."""
    from laurel.tax.exports import service  # noqa: PLC0415

    if fmt not in ("csv", "xlsx"):
        typer.echo("error: --format: csv or xlsx", err=True)
        raise typer.Exit(2)
    _run(org, out, lambda s, a: service.export_totals(s, a, year, service.Format(fmt)))


@export_app.command("iris")
def export_iris(
    org: Org,
    year: Year,
    form: Annotated[str, typer.Option(help="nec (1099-NEC) or misc (1099-MISC)")],
    out: Out = None,
) -> None:
    """IRS IRIS bulk-upload CSV (tax year 2026 on); a ZIP when over 100 returns."""
    from laurel.tax.exports import service  # noqa: PLC0415

    _run(org, out, lambda s, a: service.export_iris(s, a, year, form))


@export_app.command("fire")
def export_fire(
    org: Org,
    year: Year,
    test: Annotated[bool, typer.Option("--test", help="Mark as a FIRE test file")] = False,
    out: Out = None,
) -> None:
    """IRS FIRE file (Publication 1220), tax years up to 2025."""
    from laurel.tax.exports import service  # noqa: PLC0415

    _run(org, out, lambda s, a: service.export_fire(s, a, year, test=test))


@export_app.command("payroll")
def export_payroll(org: Org, year: Year, out: Out = None) -> None:
    """Employee rewards treated as wages, one line per payment."""
    from laurel.tax.exports import service  # noqa: PLC0415

    _run(org, out, lambda s, a: service.export_payroll(s, a, year))


@export_app.command("1042s")
def export_1042s(
    org: Org,
    year: Year,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
    out: Out = None,
) -> None:
    """Non-US persons' payments flagged for Form 1042-S, one line per recipient."""
    from laurel.tax.exports import service  # noqa: PLC0415

    if fmt not in ("csv", "xlsx"):
        typer.echo("error: --format: csv or xlsx", err=True)
        raise typer.Exit(2)
    _run(org, out, lambda s, a: service.export_1042s(s, a, year, service.Format(fmt)))
