"""Configuration revisions: database triggers give an organization a fresh revision on every
configuration change, and what a process keeps per revision is never seen stale."""

from __future__ import annotations

import itertools

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.organizations import revision
from laurel.organizations.models import Organization
from laurel.screening import service as screening
from laurel.screening.models import ListVersion
from laurel.tax import thresholds
from laurel.tax.models import TaxThreshold
from tests.conftest import Tenant, make_tenant

_names = (f"v{n}" for n in itertools.count())


def _revision(database: Database, tenant: Tenant) -> int:
    with database.session() as session:
        value = session.scalar(
            select(Organization.config_revision).where(Organization.id == tenant.id)
        )
    assert value is not None
    return value


def _triggers(database: Database) -> set[str]:
    with database.engine.connect() as conn:
        if database.dialect == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT DISTINCT event_object_table FROM information_schema.triggers "
                    "WHERE trigger_name LIKE 'config_revision_%'"
                )
            )
            return {row[0] for row in rows}
        rows = conn.execute(
            text(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'config_revision_%'"
            )
        )
        return {row[0] for row in rows}


def test_every_watched_table_has_its_trigger(database: Database) -> None:
    assert _triggers(database) == set(revision.TABLES) | set(revision.GLOBAL_TABLES)


def _put_threshold(session: Session, tenant: Tenant, amount_minor: int) -> None:
    session.add(
        TaxThreshold(
            organization_id=tenant.id,
            tax_year=2031,
            amount_minor=amount_minor,
            updated_by="test",
            updated_at=utcnow(),
        )
    )


def test_a_change_by_hand_gives_only_that_organization_a_fresh_revision(
    database: Database, tenant: Tenant
) -> None:
    other = make_tenant(database, "other")
    before, other_before = _revision(database, tenant), _revision(database, other)
    with database.engine.begin() as conn:
        # A statement no service wrote, outside any ORM session: the trigger still sees it.
        table: Table = TaxThreshold.__table__  # type: ignore[assignment]
        conn.execute(
            table.insert().values(
                id=uuid7(),
                organization_id=tenant.id,
                tax_year=2031,
                amount_minor=100,
                updated_by="dba",
                updated_at=utcnow(),
            )
        )
    after = _revision(database, tenant)
    assert after != before
    assert _revision(database, other) == other_before
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM tax_thresholds"))
    assert _revision(database, tenant) not in (before, after)


def test_a_sanctions_list_change_gives_every_organization_a_fresh_revision(
    database: Database, tenant: Tenant
) -> None:
    other = make_tenant(database, "other")
    before = (_revision(database, tenant), _revision(database, other))
    with database.session() as session:
        session.add(
            ListVersion(
                checksum="f" * 64,
                list_date=None,
                list_date_source="none",
                source="test",
                files={},
                entries=0,
                imported_by="test",
            )
        )
    after = (_revision(database, tenant), _revision(database, other))
    assert after[0] != before[0]
    assert after[1] != before[1]
    with database.session() as session:
        assert screening.current_version_id(session, tenant.id) is not None


def test_shared_values_follow_the_revision(database: Database, tenant: Tenant) -> None:
    key = next(_names)
    with database.session() as session:
        first = revision.shared(session, tenant.id, key, lambda: ("a",))
    with database.session() as session:
        assert revision.shared(session, tenant.id, key, lambda: ("b",)) == first == ("a",)
    with database.session() as session:
        _put_threshold(session, tenant, 5_000)
    with database.session() as session:
        assert revision.shared(session, tenant.id, key, lambda: ("c",)) == ("c",)


def test_a_transaction_sees_its_own_change_and_a_rollback_leaves_no_trace(
    database: Database, tenant: Tenant
) -> None:
    with database.session() as session:
        assert thresholds.for_year(session, tenant.id, 2031).source == "law"
    session = database.sessionmaker()
    try:
        # Read first, so this transaction has seen the revision before it writes.
        assert thresholds.for_year(session, tenant.id, 2031).source == "law"
        _put_threshold(session, tenant, 7_700)
        session.flush()
        # Its own write, seen at once (and kept out of what other requests share).
        assert thresholds.for_year(session, tenant.id, 2031).amount_minor == 7_700
    finally:
        session.rollback()
        session.close()
    with database.session() as session:
        found = thresholds.for_year(session, tenant.id, 2031)
    assert found.source == "law"
    with database.session() as session:
        _put_threshold(session, tenant, 9_900)
    with database.session() as session:
        assert thresholds.for_year(session, tenant.id, 2031).amount_minor == 9_900
