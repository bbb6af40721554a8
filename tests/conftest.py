"""Test databases: real SQLite and real PostgreSQL, both migrated with Alembic.

Every test that takes ``database`` runs once on each. SQLite tests get a copy of a database
migrated once per session; PostgreSQL tests share one migrated database per xdist worker and
truncate every table afterwards. ``LAUREL_TEST_DATABASES=sqlite`` narrows the run locally.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from laurel import migrate
from laurel.app import create_app
from laurel.auth import service as auth
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.actor import Actor
from laurel.models import Base
from laurel.organizations import service as organizations

PG_ADMIN = os.environ.get("LAUREL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KINDS = [k for k in os.environ.get("LAUREL_TEST_DATABASES", "sqlite,postgresql").split(",") if k]
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _worker_id() -> str:
    """Unique per test run and xdist worker: two runs on one machine never share a database."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))[:8]
    return f"{run}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def create_pg_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url(name)


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    name = f"laurel_test_{_worker_id()}"
    url = create_pg_database(name)
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    yield url
    drop_pg_database(name)


def _truncate(database: Database) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "laurel.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
    else:
        url: str = request.getfixturevalue("pg_session_url")
        db = Database(url)
        try:
            yield db
        finally:
            db.dispose()
            cleaner = Database(url)
            _truncate(cleaner)
            cleaner.dispose()


@pytest.fixture
def settings(database: Database) -> Settings:
    return Settings(
        database_url=database.url,
        environment=Environment.test,
        worker_poll_seconds=0.05,
        worker_backoff_base_seconds=0.01,
        worker_backoff_max_seconds=0.05,
        worker_lease_seconds=30,
    )


@dataclass
class Tenant:
    """An organization with an admin key per mode, as tests need them."""

    id: uuid.UUID
    slug: str
    live_key: str
    test_key: str
    actor: Actor
    test_actor: Actor

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.live_key}"}

    @property
    def test_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.test_key}"}


def make_tenant(database: Database, slug: str = "acme") -> Tenant:
    with database.session() as session:
        org = organizations.create(session, slug=slug, name=slug.title(), actor="test")
        live = auth.create_key(
            session, organization_id=org.id, scopes=["admin"], livemode=True, actor="test"
        )
        test = auth.create_key(
            session, organization_id=org.id, scopes=["admin"], livemode=False, actor="test"
        )
    scopes = frozenset({"admin"})
    return Tenant(
        id=org.id,
        slug=slug,
        live_key=live.secret,
        test_key=test.secret,
        actor=Actor(name="test", organization_id=org.id, livemode=True, scopes=scopes),
        test_actor=Actor(name="test", organization_id=org.id, livemode=False, scopes=scopes),
    )


@pytest.fixture
def tenant(database: Database) -> Tenant:
    return make_tenant(database)


@pytest.fixture
def providers(database: Database) -> ProviderRegistry:
    from laurel.worker import default_providers

    return default_providers(database)


@pytest.fixture
def client(
    settings: Settings, database: Database, providers: ProviderRegistry
) -> Iterator[TestClient]:
    app = create_app(settings, database, providers=providers)
    with TestClient(app) as test_client:
        yield test_client


def completion(
    event_id: str = "lms-1",
    *,
    learner: str = "E1001",
    course: str = "SEC-101",
    outcome: str = "passed",
    occurred_at: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A valid generic completion body; keyword arguments override or add fields."""
    from laurel.kit.clock import utcnow

    body: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": occurred_at or utcnow().isoformat(),
        "outcome": outcome,
        "score": 0.92,
        "learner": {
            "external_id": learner,
            "email": f"{learner.lower()}@example.com",
            "name": "Ana Díaz",
            "classification": "employee",
            "department": "Sales",
            "country": "US",
            "locale": "es-MX",
        },
        "course": {
            "external_id": course,
            "title": "Security Awareness 2026",
            "type": "compliance",
            "duration_minutes": 45,
        },
    }
    body.update(extra)
    return body
