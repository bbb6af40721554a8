"""The `laurel` command as an operator runs it: a real process against a real database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from laurel.auth import users
from laurel.auth.models import User
from laurel.db import Database
from laurel.learners.models import Learner
from laurel.programs.models import Program
from tests.conftest import Tenant


def laurel(
    *args: str, url: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"LAUREL_DATABASE_URL": url} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "laurel", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_apikey_create_prints_only_the_key(database: Database, tenant: Tenant) -> None:
    result = laurel(
        "apikey", "create", "--org", tenant.slug, "--scopes", "events:write,read", url=database.url
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"lrl_live_[A-Za-z0-9_-]{32}\n", result.stdout)
    test = laurel(
        "apikey", "create", "--org", tenant.slug, "--scopes", "read", "--test", url=database.url
    )
    assert test.stdout.startswith("lrl_test_")


def test_apikey_create_refuses_bad_input(database: Database, tenant: Tenant) -> None:
    unknown_org = laurel("apikey", "create", "--org", "nope", "--scopes", "read", url=database.url)
    assert unknown_org.returncode == 2
    assert "no organization 'nope'" in unknown_org.stderr
    bad_scope = laurel(
        "apikey", "create", "--org", tenant.slug, "--scopes", "read,root", url=database.url
    )
    assert bad_scope.returncode == 2
    assert "unknown scope(s) root" in bad_scope.stderr


def test_db_upgrade_fresh_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = laurel("db", "upgrade", url=url)
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout
    assert laurel("db", "current", url=url).stdout.strip() != "(empty)"


def test_db_upgrade_fresh_postgresql() -> None:
    from tests.conftest import create_pg_database, drop_pg_database

    name = f"laurel_cli_{os.getpid()}"
    url = create_pg_database(name)
    try:
        result = laurel("db", "upgrade", url=url)
        assert result.returncode == 0, result.stderr
        again = laurel("db", "upgrade", url=url)
        assert again.returncode == 0
    finally:
        drop_pg_database(name)


def test_demo_seeds_once_and_reuses(tmp_path: Path) -> None:
    # The default database is laurel.db in the working directory.
    env_url = f"sqlite:///{tmp_path / 'laurel.db'}"
    first = laurel("demo", "--no-serve", url=env_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "7 programs, 20 courses, 500 learners (created)" in first.stdout
    keys = re.findall(r"lrl_(?:live|test)_[A-Za-z0-9_-]+", first.stdout)
    assert len(set(keys)) == 2
    second = laurel("demo", "--no-serve", url=env_url, cwd=tmp_path)
    assert "(reused)" in second.stdout
    sign_in = re.compile(
        r"Dashboard: http://127\.0\.0\.1:8000/sign-in\?organization=demo\n"
        r"\s+organization: demo\s+email: (\S+)\s+password: (\S+)"
    )
    found = [sign_in.search(first.stdout), sign_in.search(second.stdout)]
    assert found[0] is not None, first.stdout
    assert found[1] is not None, second.stdout
    database = Database(env_url)
    # The dashboard user is reused with a new password: only the newest one signs in.
    policy = users.Policy(timedelta(hours=1), 5, timedelta(minutes=15))
    with database.session() as session:
        old = users.sign_in(
            session,
            organization="demo",
            email=found[0].group(1),
            password=found[0].group(2),
            policy=policy,
        )
        new = users.sign_in(
            session,
            organization="demo",
            email=found[1].group(1),
            password=found[1].group(2),
            policy=policy,
        )
    assert old.session is None
    assert new.session is not None
    assert new.session.user.roles == ["org_admin"]
    with database.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(Learner)) == 500
        assert session.scalar(select(func.count()).select_from(Program)) == 7
        classes = set(session.scalars(select(Learner.classification).distinct()))
    database.dispose()
    assert classes == {"employee", "contractor", "channel_partner", "customer"}


def test_org_create_names_the_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    laurel("db", "upgrade", url=url)
    bad = laurel("org", "create", "acme", "--currency", "XYZ", url=url)
    assert bad.returncode == 2
    assert "error: --currency: 'XYZ' is not an ISO 4217 code" in bad.stderr
    ok = laurel("org", "create", "acme", "--name", "Acme Corp", url=url)
    assert ok.returncode == 0, ok.stderr
