"""``laurel audit export|export-head|verify-head|keygen``: the auditor's commands."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

Org = Annotated[str, typer.Option(help="Organization slug")]
Output = Annotated[Path | None, typer.Option(help="Write here instead of standard output")]


def _read_key_text(value: str) -> str:
    """A key given inline, or the path of a file holding it."""
    path = Path(value)
    return path.read_text() if len(value) < 4096 and path.is_file() else value


def _utc(value: datetime | None) -> datetime | None:
    """Typer reads naive times: they are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def export(
    org: Org,
    format: Annotated[str, typer.Option(help="csv or jsonl")] = "jsonl",
    actor: Annotated[str | None, typer.Option(help="Exact actor")] = None,
    action: Annotated[
        str | None, typer.Option(help="Exact action, or a prefix ending in *")
    ] = None,
    target_type: Annotated[str | None, typer.Option()] = None,
    target_id: Annotated[str | None, typer.Option()] = None,
    since: Annotated[datetime | None, typer.Option(help="Inclusive, UTC")] = None,
    until: Annotated[datetime | None, typer.Option(help="Exclusive, UTC")] = None,
    output: Output = None,
) -> None:
    """Export audit entries (oldest first) as CSV or JSON lines; the export is audited."""
    from laurel.audit import search, service  # noqa: PLC0415
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415
    from laurel.kit.actor import Actor  # noqa: PLC0415
    from laurel.kit.errors import AppError, field_error  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    try:
        fmt = search.ExportFormat(format)
    except ValueError:
        _fail(field_error("--format", "use csv or jsonl"))
    where = search.AuditFilter(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=_utc(since),
        until=_utc(until),
    )
    database = _database()
    try:
        with database.session() as session:
            organization = organizations.get_by_slug(session, org)
            caller = Actor(name=_actor(), organization_id=organization.id)
            service.sensitive_read(
                session,
                caller,
                "audit:export",
                "organization",
                organization.id,
                {"format": fmt.value, "filter": where.described()},
            )
    except AppError as exc:
        _fail(exc)
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        with database.read_session() as session:
            for line in search.lines(search.stream(session, organization.id, where), fmt):
                out.write(line)
    finally:
        if output:
            out.close()


def export_head(org: Org, output: Output = None) -> None:
    """Sign the chain head with LAUREL_AUDIT_SIGNING_KEY and print it (JSON)."""
    from laurel.audit import signing  # noqa: PLC0415
    from laurel.cli import _actor, _database, _fail  # noqa: PLC0415
    from laurel.config import get_settings  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    secret = get_settings().audit_signing_key
    if secret is None:
        _fail("LAUREL_AUDIT_SIGNING_KEY is not set (`laurel audit keygen` makes a key pair)")
    try:
        key = signing.load_private_key(secret.get_secret_value())
        with _database().session() as session:
            organization = organizations.get_by_slug(session, org)
            document = signing.export_head(session, organization.id, key, actor=_actor())
    except AppError as exc:
        _fail(exc)
    text = json.dumps(document, indent=2) + "\n"
    if output:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)


def verify_head(
    head: Annotated[Path, typer.Argument(help="A signed head from `export-head`")],
    public_key: Annotated[
        str, typer.Option(help="The ed25519 public key to trust: a PEM file, or base64")
    ],
    entries: Annotated[
        Path | None,
        typer.Option(help="Check against this JSON lines export instead of the database"),
    ] = None,
) -> None:
    """Prove that no entry up to a signed head was altered or removed (exit 1 if one was)."""
    from laurel.audit import service, signing  # noqa: PLC0415
    from laurel.cli import _database, _fail  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415

    try:
        document = json.loads(head.read_text())
        signed = signing.check_signature(
            document, signing.load_public_key(_read_key_text(public_key))
        )
        if entries is not None:
            with entries.open(encoding="utf-8") as stream:
                result = signing.check_head(
                    signed, signing.read_export(stream, signed.organization_id)
                )
        else:
            with _database().read_session() as session:
                result = signing.check_head(
                    signed, service.entries(session, signed.organization_id)
                )
    except (OSError, ValueError) as exc:
        _fail(exc)
    except AppError as exc:
        _fail(exc)
    name = f"{signed.organization} (head {signed.seq}, signed {signed.signed_at})"
    if result.ok:
        typer.echo(f"{name}: ok, {result.entries} entries verified")
        return
    typer.echo(f"{name}: BROKEN: {result.reason}")
    raise typer.Exit(1)


def keygen() -> None:
    """Make an ed25519 key pair for signing chain heads."""
    from laurel.audit import signing  # noqa: PLC0415

    private, public = signing.generate_key()
    typer.echo(f"LAUREL_AUDIT_SIGNING_KEY={private}\n\n{public}", nl=False)
