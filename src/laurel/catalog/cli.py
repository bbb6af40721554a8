"""``laurel catalog sync``: pull every provider's catalog into one or every organization."""

from __future__ import annotations

from typing import Annotated

import typer

catalog_app = typer.Typer(help="The reward catalog.", no_args_is_help=True)


@catalog_app.command("sync")
def catalog_sync(
    org: Annotated[str | None, typer.Option(help="Organization slug (default: every one)")] = None,
) -> None:
    """Upsert catalog items from providers; items a provider dropped stop being offered."""
    from laurel.catalog import service  # noqa: PLC0415
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415
    from laurel.worker import default_providers  # noqa: PLC0415

    database = _database()
    fetched = service.fetch(default_providers(database))
    try:
        with database.session() as session:
            orgs = (
                [organizations.get_by_slug(session, org)]
                if org
                else organizations.list_all(session)
            )
            for organization in orgs:
                for result in service.apply(session, organization.id, fetched, actor=_actor()):
                    line = (
                        f"{organization.slug} {result.provider}: {result.created} created, "
                        f"{result.updated} updated, {result.withdrawn} withdrawn, "
                        f"{result.unchanged} unchanged"
                    )
                    if result.error:
                        line += f"; not asked: {result.error}"
                    typer.echo(line)
                    for problem in result.skipped:
                        typer.echo(f"  skipped {problem}")
    except AppError as exc:
        _fail(exc, rename={"slug": "--org"})
