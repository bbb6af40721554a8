"""``laurel analytics rebuild``: recompute the report rollups from the rows they count."""

from __future__ import annotations

from typing import Annotated

import typer

analytics_app = typer.Typer(help="Analytics reports.", no_args_is_help=True)


@analytics_app.command("rebuild")
def analytics_rebuild(
    organization: Annotated[
        str | None, typer.Option("--org", help="Organization slug (default: every one)")
    ] = None,
) -> None:
    """Rebuild the report rollups: completion rates from ``learning_pairs``, the daily
    overview and finance rollups from ``completion_events`` and ``rewards`` (one transaction).

    The database's triggers keep it in step with every write; this is for repair, after rows
    were written with triggers disabled or restored in part.
    """
    from sqlalchemy import select  # noqa: PLC0415

    from laurel.analytics import daily, rollups  # noqa: PLC0415
    from laurel.cli import _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.organizations.models import Organization  # noqa: PLC0415

    with _database().session() as session:
        query = select(Organization.id, Organization.slug).order_by(Organization.slug)
        if organization is not None:
            query = query.where(Organization.slug == organization)
        found = session.execute(query).all()
        if organization is not None and not found:
            _fail(f"no organization {organization!r}")
        for org_id, slug in found:
            written = rollups.rebuild(session, org_id)
            days = daily.rebuild(session, org_id)
            typer.echo(f"{slug}: {written} rollup rows, {days} daily rollup rows")
