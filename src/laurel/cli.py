"""The ``laurel`` command. Each command is one unit of work over the configured database."""

from __future__ import annotations

import atexit
import getpass
import sys
from typing import Annotated, NoReturn

import typer

from laurel.analytics.cli import analytics_app
from laurel.approvals.cli import approvals_app
from laurel.audit import cli as audit_cli
from laurel.auth.cli import user_app
from laurel.catalog.cli import catalog_app
from laurel.config import get_settings
from laurel.db import Database
from laurel.delivery.cli import inventory_app, providers_app
from laurel.events.connectors.cli import connectors_app, events_app
from laurel.fx.cli import fx_app
from laurel.imports.cli import import_app
from laurel.links.cli import links_app
from laurel.points.cli import points_app
from laurel.privacy.cli import privacy_app
from laurel.retention import outbox_app
from laurel.screening.cli import screen, sdn_app
from laurel.tax.cli import tax_app

app = typer.Typer(
    help="Laurel: verified training completions become rewards, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
keys_app = typer.Typer(help="The key ring for data encrypted at rest.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="apikey")
app.add_typer(audit_app, name="audit")
app.add_typer(events_app, name="events")
app.add_typer(connectors_app, name="connectors")
app.add_typer(sdn_app, name="sdn")
app.add_typer(fx_app, name="fx")
app.command("screen")(screen)
app.add_typer(import_app, name="import")
app.add_typer(catalog_app, name="catalog")
app.add_typer(links_app, name="links")
app.add_typer(tax_app, name="tax")
app.add_typer(approvals_app, name="approvals")
app.add_typer(user_app, name="user")
app.add_typer(inventory_app, name="inventory")
app.add_typer(providers_app, name="providers")
audit_app.command("export")(audit_cli.export)
audit_app.command("export-head")(audit_cli.export_head)
audit_app.command("verify-head")(audit_cli.verify_head)
audit_app.command("keygen")(audit_cli.keygen)
app.add_typer(privacy_app, name="privacy")
app.add_typer(keys_app, name="keys")
app.add_typer(points_app, name="points")
app.add_typer(outbox_app, name="outbox")
app.add_typer(analytics_app, name="analytics")

Host = Annotated[str, typer.Option(help="Interface to listen on")]
Port = Annotated[int, typer.Option(help="TCP port")]


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _database() -> Database:
    database = Database(get_settings().database_url)
    # A command's connections close when it exits, not when the interpreter collects them.
    atexit.register(database.dispose)
    return database


def _logging() -> None:
    from laurel.kit.logs import configure  # noqa: PLC0415

    configure(get_settings().log_level)


def _fail(error: object, rename: dict[str, str] | None = None) -> NoReturn:
    """Exit 2 with a readable message; field errors print one ``field: why`` per line."""
    from laurel.kit.errors import AppError  # noqa: PLC0415

    detail = error.detail if isinstance(error, AppError) else error
    if isinstance(detail, list):
        names = rename or {}
        lines = [
            f"{names.get(str(d.get('field')), d.get('field'))}: {d.get('message')}"
            if isinstance(d, dict)
            else str(d)
            for d in detail
        ]
    else:
        lines = [str(detail)]
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations (SQLite or PostgreSQL, from LAUREL_DATABASE_URL)."""
    from laurel import migrate, sqlite_statistics  # noqa: PLC0415 - keeps `laurel --help` fast

    database = _database()
    migrate.upgrade(database, revision)
    sqlite_statistics.refresh(database)
    typer.echo(f"database at revision {migrate.current_revision(database)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from laurel import migrate  # noqa: PLC0415

    typer.echo(migrate.current_revision(_database()) or "(empty)")


@org_app.command("create")
def org_create(
    slug: str,
    name: Annotated[str, typer.Option(help="Display name")] = "",
    currency: Annotated[str, typer.Option(help="Default ISO 4217 currency")] = "USD",
) -> None:
    """Create an organization."""
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service  # noqa: PLC0415

    try:
        with _database().session() as session:
            org = service.create(
                session, slug=slug, name=name or slug, actor=_actor(), default_currency=currency
            )
    except AppError as exc:
        _fail(exc, rename={"default_currency": "--currency", "slug": "SLUG"})
    typer.echo(str(org.id))


@org_app.command("hipaa")
def org_hipaa(
    slug: str,
    enabled: Annotated[bool, typer.Option("--on/--off", help="Flag or unflag HIPAA")],
) -> None:
    """Flag an organization whose training data can touch health information (PHI)."""
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service  # noqa: PLC0415
    from laurel.privacy import phi  # noqa: PLC0415

    try:
        with _database().session() as session:
            org = service.get_by_slug(session, slug)
            phi.set_hipaa(session, org.id, enabled=enabled, actor=_actor())
    except AppError as exc:
        _fail(exc, rename={"slug": "SLUG"})
    typer.echo(f"{slug}: HIPAA {'on' if enabled else 'off'}")


@key_app.command("create")
def apikey_create(
    org: Annotated[str, typer.Option(help="Organization slug")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: events:write,read,admin")],
    test: Annotated[bool, typer.Option("--test", help="A test-mode key")] = False,
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
) -> None:
    """Create an API key and print it (only the key, once)."""
    from laurel.auth import service as auth  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    try:
        with _database().session() as session:
            organization = organizations.get_by_slug(session, org)
            created = auth.create_key(
                session,
                organization_id=organization.id,
                scopes=scopes,
                livemode=not test,
                actor=_actor(),
                name=name,
            )
    except AppError as exc:
        _fail(exc)
    typer.echo(created.secret)


@audit_app.command("verify")
def audit_verify(
    org: Annotated[str | None, typer.Option(help="Only this organization")] = None,
) -> None:
    """Recompute every organization's hash chain; report the first broken link."""
    from laurel.audit import service as audit  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415
    from laurel.organizations import service as organizations  # noqa: PLC0415

    broken = False
    with _database().read_session() as session:
        try:
            orgs = (
                [organizations.get_by_slug(session, org)]
                if org
                else organizations.list_all(session)
            )
        except AppError as exc:
            _fail(exc)
        for organization in orgs:
            result = audit.verify_chain(session, organization.id)
            if result.ok:
                typer.echo(f"{organization.slug}: ok, {result.entries} entries")
            else:
                broken = True
                typer.echo(
                    f"{organization.slug}: BROKEN at entry {result.broken_seq}: "
                    f"{result.reason} ({result.entries} entries verified before it)"
                )
    if broken:
        raise typer.Exit(1)


@keys_app.command("generate")
def keys_generate(key_id: Annotated[str, typer.Argument(help="Letters and digits")]) -> None:
    """Print a new key as `id:base64`, to put first in LAUREL_ENCRYPTION_KEYS."""
    from laurel.kit import crypto  # noqa: PLC0415

    typer.echo(f"{key_id}:{crypto.new_key()}")


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction")] = 500,
) -> None:
    """Re-encrypt every registered column under the first key of the ring, in batches (learners'
    data keys are re-wrapped), then recompute blind indexes under it."""
    from laurel.kit import crypto  # noqa: PLC0415
    from laurel.kit.errors import AppError  # noqa: PLC0415

    try:
        ring = crypto.ring_from_settings(get_settings())
    except AppError as exc:
        _fail(exc)
    totals: dict[str, list[int]] = {}
    for done in crypto.rotate_batches(_database(), ring, batch=batch):
        name = f"{done.column.table}.{done.column.column}"
        counts = totals.setdefault(name, [0, 0])
        counts[0] += done.rewritten
        counts[1] += done.skipped
    done_as = [(e, "re-encrypted") for e in crypto.registered()]
    done_as += [(e, "re-indexed") for e in crypto.reindexed()]
    for entry, verb in done_as:
        name = f"{entry.table}.{entry.column}"
        rewritten, skipped = totals.get(name, [0, 0])
        typer.echo(
            f"{name}: {rewritten} {verb} under {ring.current.id}, {skipped} changed "
            "meanwhile (run again)"
            if skipped
            else f"{name}: {rewritten} {verb} under {ring.current.id}"
        )


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    Almost everything a request allocates is freed by reference counting; the cycle collector
    mostly re-scans the long-lived objects of start-up (modules, mappers, the app). Freezing
    those and collecting less often took about a fifth off the CPU per event in the ingest
    benchmark, for a few MB more between collections.
    """
    import gc  # noqa: PLC0415

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _serve(host: str, port: int, run_worker: bool, database: Database | None = None) -> None:
    import uvicorn  # noqa: PLC0415

    from laurel import migrate, sqlite_statistics  # noqa: PLC0415
    from laurel.app import create_app  # noqa: PLC0415

    settings = get_settings()
    database = database or _database()
    if database.is_sqlite and migrate.is_behind(migrate.current_revision(database)):
        # The embedded database is this process's own: keep it current with no extra step.
        # (A newer schema, from a newer release, is left alone.) PostgreSQL is migrated
        # deliberately with `laurel db upgrade`; /readyz reports it.
        migrate.upgrade(database)
    # The planner's statistics of an SQLite file that grew since they were taken (see
    # sqlite_statistics; the worker keeps them current afterwards).
    sqlite_statistics.refresh_if_free(database)
    application = create_app(settings, database, run_worker=run_worker)
    _tune_gc()
    if run_worker:
        _start_polling(database)
    uvicorn.run(
        application, host=host, port=port, log_level=settings.log_level.lower(), access_log=False
    )


def _start_polling(database: Database) -> None:
    """Poll sources that cannot push (TalentLMS) on a schedule, beside the worker."""
    from laurel.events.connectors.polling import start_scheduler  # noqa: PLC0415
    from laurel.events.connectors.secretbox import SecretBox  # noqa: PLC0415

    settings = get_settings()
    if settings.poll_interval_seconds > 0:
        start_scheduler(database, SecretBox(settings.secret_key), settings.poll_interval_seconds)
    if settings.privacy_sweep_interval_seconds > 0:
        from laurel.privacy import sweep  # noqa: PLC0415

        sweep.start_scheduler(
            database, settings.privacy_sweep_interval_seconds, roster_keep=settings.roster_keep
        )


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    worker: Annotated[bool, typer.Option(help="Run an issuance worker in-process")] = True,
) -> None:
    """Run the API (and, by default, an issuance worker) in one process."""
    _logging()
    _serve(host, port, worker)


@app.command()
def worker(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface for the metrics port")] = (
        "127.0.0.1"
    ),
) -> None:
    """Run an issuance worker alone (scale these out against PostgreSQL)."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from prometheus_client import start_http_server  # noqa: PLC0415

    from laurel.metrics import REGISTRY, bind_database  # noqa: PLC0415
    from laurel.worker import Worker, default_providers  # noqa: PLC0415

    _logging()
    database = _database()
    if metrics_port is not None:
        bind_database(database)
        start_http_server(metrics_port, addr=metrics_host, registry=REGISTRY)
    w = Worker(database, get_settings(), default_providers(database))
    _start_polling(database)
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()
        w.wake.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    w.run(stop)


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding")
    ] = True,
) -> None:
    """Create (or reuse) a demo organization with programs, courses and learners, then serve."""
    from laurel import migrate  # noqa: PLC0415
    from laurel.demo import seed  # noqa: PLC0415
    from laurel.kit.clock import utcnow  # noqa: PLC0415

    _logging()
    database = _database()
    migrate.upgrade(database)
    summary = seed(database)
    base = f"http://{host}:{port}"
    now = utcnow().isoformat(timespec="seconds").replace("+00:00", "Z")
    typer.echo(
        f"\nLaurel demo: organization '{summary.org_slug}' with {summary.programs} programs, "
        f"{summary.courses} courses, {summary.learners} learners "
        f"({'created' if summary.created else 'reused'}) in {database.url}\n\n"
        f"  API key (admin, live): {summary.live_key}\n"
        f"  API key (admin, test): {summary.test_key}\n\n"
        f"  Dashboard: {base}/sign-in?organization={summary.org_slug}\n"
        f"    organization: {summary.org_slug}   email: {summary.admin_email}   "
        f"password: {summary.admin_password}\n"
        "    (org_admin; a new password on every run, like the keys)\n\n"
        f"  API reference: {base}/docs\n  Health: {base}/readyz   Metrics: {base}/metrics\n\n"
        "Send a completion (occurred_at is now: programs never pay for the past):\n"
        f"  curl -s {base}/api/v1/completions -H 'Authorization: Bearer {summary.live_key}' \\\n"
        '    -H \'Content-Type: application/json\' -d \'{"event_id": "first-1", '
        f'"occurred_at": "{now}", "outcome": "passed", '
        '"learner": {"external_id": "E1001"}, "course": {"external_id": "SEC-101"}}\'\n'
    )
    if serve_after:
        _serve(host, port, True, database)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
