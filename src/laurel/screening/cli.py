"""``laurel sdn import|refresh|versions`` and ``laurel screen``: the screening commands.

Imports read or download the files before the unit of work opens, so no database lock is held
while the network is slow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

sdn_app = typer.Typer(help="Sanctions lists (OFAC SDN and consolidated).", no_args_is_help=True)

ListDate = Annotated[
    datetime | None,
    typer.Option(help="Publication date of the files (default: Last-Modified or file time)"),
]


def _import(source: str, list_date: datetime | None) -> None:
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.screening import cases, service, sources  # noqa: PLC0415

    when = list_date.replace(tzinfo=UTC) if list_date and list_date.tzinfo is None else list_date
    try:
        fetched = sources.fetch(source)
        with _database().session() as session:
            outcome = service.store_version(session, fetched, actor=_actor(), list_date=when)
            rescreened = cases.rescreen_held(session, _actor()) if outcome.created else 0
    except AppError as exc:
        _fail(exc, rename={"source": "PATH_OR_URL"})
    version = outcome.version
    state = "imported" if outcome.created else "unchanged (same files as before)"
    typer.echo(
        f"list version {version.id}: {state}; {version.entries} entries, "
        f"checksum {version.checksum[:16]}…, list date {version.list_date or 'unknown'}; "
        f"{rescreened} held rewards re-screened"
    )


@sdn_app.command("import")
def sdn_import(
    source: Annotated[str, typer.Argument(metavar="PATH_OR_URL", help="Folder or base URL")],
    list_date: ListDate = None,
) -> None:
    """Import sdn.csv, alt.csv, add.csv (and cons_*.csv) from a folder or base URL."""
    _import(source, list_date)


@sdn_app.command("refresh")
def sdn_refresh() -> None:
    """Import from LAUREL_SCREENING_LIST_URL (for cron); does nothing when it is unset."""
    from laurel.config import get_settings  # noqa: PLC0415

    url = get_settings().screening_list_url
    if not url:
        typer.echo("LAUREL_SCREENING_LIST_URL is not set: nothing to refresh")
        return
    _import(url, None)


@sdn_app.command("versions")
def sdn_versions() -> None:
    """Imported list versions, newest first."""
    from laurel.cli import _database  # noqa: PLC0415
    from laurel.screening import service  # noqa: PLC0415

    with _database().read_session() as session:
        for v in service.list_versions(session):
            typer.echo(
                f"{v.id}  {v.imported_at:%Y-%m-%d %H:%M}  {v.entries:>6} entries  "
                f"list date {v.list_date or 'unknown'}  {v.source}"
            )


def screen(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    country: Annotated[
        str | None, typer.Option(help="ISO 3166-1 alpha-2 (IR) or 3166-2 (UA-43)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
    org: Annotated[
        str | None, typer.Option(help="Organization slug: store the result in its records")
    ] = None,
) -> None:
    """Screen a name (and country) against the newest sanctions lists."""
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415
    from laurel.screening import service  # noqa: PLC0415
    from laurel.screening.schemas import CheckOut  # noqa: PLC0415

    try:
        with _database().session() as session:
            if org:
                organization = organizations.get_by_slug(session, org)
                screening, result = service.check(
                    session,
                    organization_id=organization.id,
                    livemode=True,
                    actor=_actor(),
                    name=name,
                    country=country,
                )
                answer = CheckOut.of(screening, result.id)
            else:
                if not name.strip():
                    raise AppError("NAME must not be blank")
                policy = service.Policy.from_settings()
                version = service.pick_version(session, policy)
                answer = CheckOut.of(service.screen(session, name, country, policy, version))
    except AppError as exc:
        _fail(exc, rename={"name": "NAME", "country": "--country"})
    if as_json:
        shown = answer.model_dump(mode="json", by_alias=True, exclude={"result_id"})
        typer.echo(json.dumps(shown, indent=2))
        return
    where = f"list version {answer.list_version}" if answer.list_version else "no list imported"
    typer.echo(f"{answer.decision.upper()} ({where}, threshold {answer.threshold:.2f})")
    if answer.country_hit:
        typer.echo(f"  country {answer.country_hit} is comprehensively sanctioned")
    for m in answer.matches:
        typer.echo(
            f"  {m.score:.3f}  {m.list_code} {m.entry_id}  {m.name}  "
            f"[{', '.join(m.programs)}]  via {m.matched_name!r}"
        )
