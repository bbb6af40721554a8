"""``laurel inventory upload|stock``: pre-purchased gift codes from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

inventory_app = typer.Typer(
    help="Pre-purchased gift codes (the inventory provider).", no_args_is_help=True
)

Org = Annotated[str, typer.Option(help="Organization slug")]


@inventory_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="CSV: brand,value,currency,code,PIN,expiry")],
    org: Org,
) -> None:
    """Store the file's codes (encrypted); print every row not stored, and why."""
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.config import get_settings  # noqa: PLC0415
    from laurel.delivery.inventory import service  # noqa: PLC0415
    from laurel.delivery.inventory.sealing import CodeBox  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    settings = get_settings()
    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail(f"FILE: cannot read {file}: {exc.strerror}")
    try:
        with _database().session() as session:
            organization = organizations.get_by_slug(session, org)
            result = service.upload(
                session,
                organization.id,
                data,
                box=CodeBox(settings.secret_key),
                actor=_actor(),
                default_threshold=settings.inventory_low_stock,
            )
    except AppError as exc:
        _fail(exc, rename={"file": "FILE"})
    for error in result.errors:
        typer.echo(f"row {error.row}, {error.column}: {error.message}", err=True)
    typer.echo(
        f"{result.stored} of {result.rows} codes stored, {len(result.errors)} rows rejected; "
        f"{result.released} held rewards released"
    )


@inventory_app.command("stock")
def stock(org: Org) -> None:
    """Codes in stock per brand and value; LOW marks a denomination under its threshold."""
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.config import get_settings  # noqa: PLC0415
    from laurel.delivery.inventory import service  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    try:
        with _database().read_session() as session:
            organization = organizations.get_by_slug(session, org)
            levels = service.stock(session, organization.id, get_settings().inventory_low_stock)
    except AppError as exc:
        _fail(exc)
    for level in levels:
        flag = "  LOW" if level.low else ""
        typer.echo(
            f"{level.brand}  {level.value}  available {level.available}  "
            f"allocated {level.allocated}  expired {level.expired}  "
            f"threshold {level.threshold}{flag}"
        )


providers_app = typer.Typer(help="Fulfilment providers.", no_args_is_help=True)


@providers_app.command("list")
def providers_list() -> None:
    """The providers this configuration registers (what programs and routes may name)."""
    from laurel.cli import _database  # noqa: PLC0415
    from laurel.worker import default_providers  # noqa: PLC0415

    for name in default_providers(_database()).names():
        typer.echo(name)


@providers_app.command("balance")
def providers_balance() -> None:
    """What each configured provider account can still pay out (Tango, Tremendous)."""
    from laurel.cli import _database  # noqa: PLC0415
    from laurel.delivery.providers import ProviderError  # noqa: PLC0415
    from laurel.worker import default_providers  # noqa: PLC0415

    registry = default_providers(_database())
    failed = False
    for name in registry.names():
        provider = registry.get(name)
        balance = getattr(provider, "balance", None)
        if balance is None or name == "inventory":  # inventory: `laurel inventory stock`
            continue
        try:
            for line in balance():
                typer.echo(f"{name}  {line.account}  {line.available}")
        except ProviderError as exc:
            typer.echo(f"{name}: {exc}", err=True)
            failed = True
    if failed:
        raise typer.Exit(1)
