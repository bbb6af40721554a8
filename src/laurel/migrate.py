"""Runs Alembic against a Database; used by `laurel db upgrade`, the demo and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

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


def upgrade(database: Database, revision: str = "head") -> None:
    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


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
