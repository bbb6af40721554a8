"""``laurel user create|reset-link``: the first org admin, and a reset link without mail."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)


@user_app.command("create")
def create_user(
    email: str,
    org: Annotated[str, typer.Option(help="Organization slug")],
    roles: Annotated[str, typer.Option(help="Comma-separated: org_admin, finance, ...")],
    departments: Annotated[str, typer.Option(help="For department_manager: comma-separated")] = "",
    name: Annotated[str, typer.Option(help="Display name")] = "",
    password: Annotated[
        bool, typer.Option("--password/--no-password", help="Ask for a password now")
    ] = True,
) -> None:
    """Create a user; without a password the user signs in through SSO or a reset link."""
    from laurel.auth import users  # noqa: PLC0415
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415 - the CLI's own helpers
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    secret = (
        typer.prompt("Password (at least 12 characters)", hide_input=True) if password else None
    )
    try:
        with _database().session() as session:
            organization = organizations.get_by_slug(session, org)
            user = users.create(
                session,
                organization_id=organization.id,
                email=email,
                name=name,
                roles=roles.split(","),
                departments=[d.strip() for d in departments.split(",") if d.strip()],
                password=secret,
                actor=_actor(),
            )
            typer.echo(f"user {user.id} {user.email}: {', '.join(user.roles)}")
    except AppError as exc:
        _fail(exc, rename={"roles": "--roles", "email": "EMAIL"})


@user_app.command("reset-link")
def reset_link(email: str, org: Annotated[str, typer.Option(help="Organization slug")]) -> None:
    """Print a single-use password reset link (for a deployment without mail)."""
    from laurel.auth import users  # noqa: PLC0415
    from laurel.auth.mail import reset_link as link  # noqa: PLC0415
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.config import get_settings  # noqa: PLC0415

    settings = get_settings()
    with _database().session() as session:
        found = users.request_reset(
            session,
            organization=org,
            email=email,
            lifetime=timedelta(minutes=settings.password_reset_minutes),
        )
    if found is None:
        _fail(f"no enabled user {email} in {org}")
    typer.echo(link(settings, found.token))
