"""``laurel points expire|reconcile`` as an operator's cron runs them: a real process."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.points import ledger
from laurel.points.models import TransactionKind
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.points.support import learners, program, scope


def test_expire_then_reconcile(database: Database, tenant: Tenant) -> None:
    (ana,) = learners(database, tenant, 1)
    prog = program(database, tenant)
    with database.session() as session:
        ledger.post(
            session,
            scope(tenant),
            key="old",
            kind=TransactionKind.earn,
            legs=[(ledger.liability(prog), -80), (ledger.wallet(ana), 80)],
            actor="test",
            program_id=prog,
            expires_at=utcnow() - timedelta(days=1),
        )
    done = laurel("points", "expire", url=database.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 lots expired")
    check = laurel("points", "reconcile", "--org", tenant.slug, url=database.url)
    assert check.returncode == 0, check.stderr
    assert "2 transactions, 4 entries, sum 0" in check.stdout
    # Someone edits a kept balance behind the ledger's back: reconcile says so.
    with database.session() as session:
        session.execute(
            text("UPDATE points_accounts SET balance = balance + 5 WHERE kind = 'expiry'")
        )
    broken = laurel("points", "reconcile", "--org", tenant.slug, url=database.url)
    assert broken.returncode == 1
    assert "drifted balances 1" in broken.stdout
    missing = laurel("points", "reconcile", "--org", "nobody", url=database.url)
    assert missing.returncode == 2
