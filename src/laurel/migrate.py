"""Runs Alembic against a Database; used by `laurel db upgrade`, the demo and the tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from laurel.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    return config


@contextmanager
def _migrating(database: Database) -> Iterator[Connection]:
    """A connection for migrations. On SQLite, foreign keys are off while tables are rebuilt
    (SQLite alters a table by copying it, and dropping the old copy would fail, or cascade,
    while other tables refer to it), then every reference is checked before the commit."""
    with database.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw: Any = connection.connection.dbapi_connection if sqlite else None
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, or it is ignored
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left broken references: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(database: Database, revision: str = "head") -> None:
    config = alembic_config(database.url)
    with _migrating(database) as connection:
        config.attributes["connection"] = connection
        # Migrations that encrypt existing rows use the ring the application will read with.
        config.attributes["key_ring"] = database.key_ring
        command.upgrade(config, revision)


def downgrade(database: Database, revision: str) -> None:
    config = alembic_config(database.url)
    with _migrating(database) as connection:
        config.attributes["connection"] = connection
        config.attributes["key_ring"] = database.key_ring
        command.downgrade(config, revision)


def current_revision(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - rarely needed

    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - rarely needed

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def is_behind(current: str | None) -> bool:
    """True when this code knows migrations the database lacks.

    A revision this code does not know is newer (a rolling upgrade migrated first): the old
    release keeps serving, so that is not "behind".
    """
    from alembic.script import ScriptDirectory  # noqa: PLC0415
    from alembic.util import CommandError  # noqa: PLC0415

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    if current is None:
        return True
    if current == script.get_current_head():
        return False
    try:
        script.get_revision(current)
    except CommandError:
        return False
    return True
