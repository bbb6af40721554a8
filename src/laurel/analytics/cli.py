"""``laurel analytics rebuild``: recompute the report rollups from the rows they count and the
stored reports."""

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
    overview and finance rollups from ``completion_events`` and ``rewards``, and every stored
    report (``analytics.snapshots``: lifts, weekly rates; one transaction).

    The database's triggers keep the rollups in step with every write and the worker keeps
    the stored reports fresh; this is for repair, after rows were written with triggers disabled
    or restored in part, or to have every lift current now.
    """
    from sqlalchemy import select  # noqa: PLC0415

    from laurel.analytics import daily, rollups, snapshots  # noqa: PLC0415
    from laurel.cli import _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.kit.clock import utcnow  # noqa: PLC0415
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
            kept = snapshots.kept(session, org_id)
            for target in kept:
                snapshots.refresh(session, target, utcnow())  # dropped if its program is gone
            typer.echo(
                f"{slug}: {written} rollup rows, {days} daily rollup rows, "
                f"{len(kept)} stored reports"
            )
