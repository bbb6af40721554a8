"""Reports served from stored snapshots (the program lift, weekly completion rates): the same
numbers as a live computation, stale by age and by a program change, refreshed by the worker
while read lately and by ``laurel analytics rebuild``, bypassed by ``fresh=true``, and a
department manager's kept apart from the organization's."""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.analytics import reports, snapshots
from laurel.analytics.models import ReportSnapshot
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from laurel.worker import Worker, start_in_thread, stop_thread
from tests.analytics.support import cohort
from tests.auth.support import Browser, make_user
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.factories import backdate_program, fixed_program

LIVE_ONLY = ("computed_at", "snapshot")


def _program(client: TestClient, tenant: Tenant, database: Database) -> str:
    """A program started 10 days ago: 20 Sales learners before it (5 passed), 20 after (15
    passed, each rewarded)."""
    program = fixed_program(client, tenant, key="lift")
    backdate_program(database, program["id"], utcnow() - timedelta(days=10))
    cohort(client, tenant, "B", "Sales", 20, 5, utcnow() - timedelta(days=15))
    cohort(client, tenant, "A", "Sales", 20, 15, utcnow() - timedelta(days=5))
    return str(program["id"])


def _groups(report: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(g["group"], g["enrolments"], g["completions"]) for g in report["groups"]]


def _key(program_id: str, departments: frozenset[str] | None = None) -> str:
    return snapshots.key_of(snapshots.lift_params(uuid.UUID(program_id), departments))


def _stored(
    database: Database, tenant: Tenant, program_id: str, departments: frozenset[str] | None = None
) -> ReportSnapshot | None:
    with database.session() as session:
        row = session.get(
            ReportSnapshot, (tenant.id, True, snapshots.LIFT, _key(program_id, departments))
        )
        if row is not None:
            session.expunge(row)
        return row


def _age(database: Database, tenant: Tenant, program_id: str, seconds: float) -> None:
    """Make the organization's stored lift ``seconds`` older."""
    found = _stored(database, tenant, program_id)
    assert found is not None
    with database.session() as session:
        session.execute(
            update(ReportSnapshot)
            .where(ReportSnapshot.key == _key(program_id))
            .values(computed_at=found.computed_at - timedelta(seconds=seconds))
        )


def test_the_snapshot_is_the_live_computation_and_carries_its_time(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    pid = _program(client, tenant, database)
    path = f"/api/v1/analytics/programs/{pid}/lift"
    assert _stored(database, tenant, pid) is None

    first = client.get(path, headers=tenant.headers).json()
    assert first["snapshot"] is False  # nothing stored yet: computed for this request
    assert first["computed_at"] == first["until"]
    assert _groups(first) == [("incentivised", 20, 15), ("pre_period", 20, 5)]
    assert first["lift"] == 0.5
    stored = _stored(database, tenant, pid)
    assert stored is not None
    assert stored.computed_at == datetime.fromisoformat(first["computed_at"])

    second = client.get(path, headers=tenant.headers).json()
    assert second["snapshot"] is True
    assert second == {**first, "snapshot": True}
    # The stored report is what reports.lift answers for the same moment, field for field.
    with database.read_session() as session:
        live = reports.lift(session, tenant.id, True, uuid.UUID(pid), as_of=stored.computed_at)
    assert {k: v for k, v in second.items() if k not in LIVE_ONLY} == live
    assert list(stored.result) == list(live)  # the key order the downloads follow is kept

    exported = list(
        csv.DictReader(io.StringIO(client.get(path + "?format=csv", headers=tenant.headers).text))
    )
    assert [(r["group"], r["computed_at"]) for r in exported] == [
        ("incentivised", first["computed_at"]),
        ("pre_period", first["computed_at"]),
    ]
    missing = client.get(f"/api/v1/analytics/programs/{uuid.uuid4()}/lift", headers=tenant.headers)
    assert missing.status_code == 404


def test_a_snapshot_goes_stale_with_age(
    client: TestClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    pid = _program(client, tenant, database)
    path = f"/api/v1/analytics/programs/{pid}/lift"
    first = client.get(path, headers=tenant.headers).json()
    cohort(client, tenant, "C", "Sales", 10, 10, utcnow() - timedelta(days=4))

    # Younger than LAUREL_REPORT_REFRESH_SECONDS: the stored numbers, labelled with their time.
    _age(database, tenant, pid, settings.report_refresh_seconds - 30)
    aged = client.get(path, headers=tenant.headers).json()
    assert aged["snapshot"] is True
    assert _groups(aged) == _groups(first)

    _age(database, tenant, pid, 30)
    renewed = client.get(path, headers=tenant.headers).json()
    assert renewed["snapshot"] is False
    assert renewed["computed_at"] > first["computed_at"]
    assert _groups(renewed) == [("incentivised", 30, 25), ("pre_period", 20, 5)]
    assert client.get(path, headers=tenant.headers).json() == {**renewed, "snapshot": True}


def test_a_program_change_makes_the_snapshot_stale(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    pid = _program(client, tenant, database)
    path = f"/api/v1/analytics/programs/{pid}/lift"
    assert client.get(path, headers=tenant.headers).json()["comparison"] == "pre_period"
    assert client.get(path, headers=tenant.headers).json()["snapshot"] is True

    changed = client.patch(
        f"/api/v1/programs/{pid}", json={"holdout_bps": 5000}, headers=tenant.headers
    )
    assert changed.status_code == 200, changed.text
    after = client.get(path, headers=tenant.headers).json()
    assert after["snapshot"] is False
    assert (after["comparison"], after["holdout_bps"]) == ("holdout", 5000)


def test_fresh_true_computes_now_and_keeps_the_result(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    pid = _program(client, tenant, database)
    path = f"/api/v1/analytics/programs/{pid}/lift"
    first = client.get(path, headers=tenant.headers).json()
    cohort(client, tenant, "C", "Sales", 10, 10, utcnow() - timedelta(days=4))
    assert _groups(client.get(path, headers=tenant.headers).json()) == _groups(first)

    fresh = client.get(path + "?fresh=true", headers=tenant.headers).json()
    assert fresh["snapshot"] is False
    assert _groups(fresh) == [("incentivised", 30, 25), ("pre_period", 20, 5)]
    # What was computed is stored: the next reader gets it without computing.
    assert client.get(path, headers=tenant.headers).json() == {**fresh, "snapshot": True}


def test_a_department_manager_has_a_snapshot_of_their_own(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    pid = _program(client, tenant, database)
    cohort(client, tenant, "E", "Engineering", 10, 0, utcnow() - timedelta(days=5))
    path = f"/api/v1/analytics/programs/{pid}/lift"
    org = client.get(path, headers=tenant.headers).json()
    assert _groups(org) == [("incentivised", 30, 15), ("pre_period", 20, 5)]
    # A stored report no computation would give: whoever answers from it shows 0.99.
    with database.session() as session:
        session.execute(
            update(ReportSnapshot)
            .where(ReportSnapshot.key == _key(pid))
            .values(result={**{k: v for k, v in org.items() if k not in LIVE_ONLY}, "lift": 0.99})
        )
    assert client.get(path, headers=tenant.headers).json()["lift"] == 0.99
    before = _stored(database, tenant, pid)

    make_user(database, tenant.id, "sales@acme.test", ["department_manager"], departments=["Sales"])
    sales = Browser(cast(FastAPI, client.app))
    sales.sign_in("acme", "sales@acme.test")
    mine = sales.client.get(path).json()
    assert mine["snapshot"] is False
    assert _groups(mine) == [("incentivised", 20, 15), ("pre_period", 20, 5)]
    assert mine["lift"] == 0.5
    assert mine["computed_at"] == mine["until"]
    after = _stored(database, tenant, pid)
    assert after is not None
    assert before is not None
    assert (after.computed_at, after.result) == (before.computed_at, before.result)
    # The manager's own lift is kept apart, under their departments: read back, never 0.99.
    again = sales.client.get(path).json()
    assert again == {**mine, "snapshot": True}
    theirs = _stored(database, tenant, pid, frozenset({"Sales"}))
    assert theirs is not None
    with database.read_session() as session:
        scope = select(Learner.id).where(
            Learner.organization_id == tenant.id, Learner.department == "Sales"
        )
        live = reports.lift(
            session, tenant.id, True, uuid.UUID(pid), as_of=theirs.computed_at, learners_in=scope
        )
    assert theirs.result == live


def test_the_worker_refreshes_snapshots_before_they_go_stale(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    pid = _program(client, tenant, database)
    worker = Worker(database, settings, providers)
    assert worker.refresh_snapshots() == 0  # nothing asked for yet: nothing to keep
    path = f"/api/v1/analytics/programs/{pid}/lift"
    assert client.get(path, headers=tenant.headers).json()["snapshot"] is False
    assert worker.refresh_snapshots() == 0  # just computed by its reader: fresh
    stored = _stored(database, tenant, pid)
    assert stored is not None
    with database.read_session() as session:
        live = reports.lift(session, tenant.id, True, uuid.UUID(pid), as_of=stored.computed_at)
    assert stored.result == live

    cohort(client, tenant, "C", "Sales", 10, 10, utcnow() - timedelta(days=4))
    # Past EARLY of its age but not stale yet: refreshed now, so a reader never computes.
    _age(database, tenant, pid, settings.report_refresh_seconds * snapshots.EARLY)
    assert worker.refresh_snapshots() == 1
    renewed = _stored(database, tenant, pid)
    assert renewed is not None
    assert renewed.computed_at > stored.computed_at
    answer = client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers).json()
    assert answer["snapshot"] is True
    assert _groups(answer) == [("incentivised", 30, 25), ("pre_period", 20, 5)]

    # A program change: stale whatever its age.
    client.patch(f"/api/v1/programs/{pid}", json={"holdout_bps": 2500}, headers=tenant.headers)
    assert worker.refresh_snapshots() == 1
    with database.read_session() as session:
        assert [
            t.key
            for t in snapshots.due(
                session, now=utcnow(), max_age_seconds=settings.report_refresh_seconds, limit=5
            )
        ] == []
    assert (
        client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers).json()[
            "holdout_bps"
        ]
        == 2500
    )


def test_an_older_computation_never_replaces_a_newer_one(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    pid = _program(client, tenant, database)
    target = snapshots.Target(tenant.id, True, snapshots.LIFT, _key(pid))
    now = utcnow()
    with database.read_session() as session:
        older = snapshots.compute(
            session, tenant.id, True, snapshots.LIFT, target.params, now - timedelta(minutes=1)
        )
        newer = snapshots.compute(session, tenant.id, True, snapshots.LIFT, target.params, now)
    with database.session() as session:
        snapshots.store(session, target, newer, read=True)
    with database.session() as session:
        snapshots.store(session, target, older, read=True)
    with database.read_session() as session:
        kept = snapshots.read(session, target)
    assert kept is not None
    assert (kept.computed_at, kept.result["until"]) == (now, now.isoformat())


def test_laurel_analytics_rebuild_refreshes_the_stored_reports(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    pid = _program(client, tenant, database)
    client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers)
    cohort(client, tenant, "C", "Sales", 10, 10, utcnow() - timedelta(days=4))
    url = database.engine.url.render_as_string(hide_password=False)
    done = laurel("analytics", "rebuild", "--org", tenant.slug, url=url)
    assert done.returncode == 0, done.stderr
    assert "1 stored reports" in done.stdout
    stored = _stored(database, tenant, pid)
    assert stored is not None
    assert _groups(stored.result) == [("incentivised", 30, 25), ("pre_period", 20, 5)]
    with database.read_session() as session:
        assert stored.result == reports.lift(
            session, tenant.id, True, uuid.UUID(pid), as_of=stored.computed_at
        )


def test_the_openapi_documents_the_as_of_time(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/api/v1/analytics/programs/{program_id}/lift"]["get"]["responses"]["200"]
    assert set(ok["content"]) >= {"application/json", "text/csv"}
    schema = spec["components"]["schemas"]["LiftReport"]
    assert {"computed_at", "snapshot", "lift", "groups"} <= set(schema["properties"])
    parameters = spec["paths"]["/api/v1/analytics/programs/{program_id}/lift"]["get"]["parameters"]
    assert "fresh" in {p["name"] for p in parameters}


def test_the_running_worker_keeps_the_snapshots_in_its_own_thread(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    pid = _program(client, tenant, database)
    path = f"/api/v1/analytics/programs/{pid}/lift"
    client.get(path, headers=tenant.headers)
    cohort(client, tenant, "C", "Sales", 10, 10, utcnow() - timedelta(days=4))
    _age(database, tenant, pid, settings.report_refresh_seconds)
    aged = _stored(database, tenant, pid)
    assert aged is not None
    worker = Worker(database, settings, providers)
    thread, stop = start_in_thread(worker)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = _stored(database, tenant, pid)
            if now is not None and now.computed_at > aged.computed_at:
                break
            time.sleep(0.05)
    finally:
        stop_thread(thread, stop, worker)
    assert not any(t.name == "laurel-reports" for t in threading.enumerate())
    stored = _stored(database, tenant, pid)
    assert stored is not None
    answer = client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers).json()
    assert answer["snapshot"] is True
    assert answer["computed_at"] == stored.computed_at.isoformat()


def test_the_worker_keeps_fresh_only_what_readers_asked_for_lately(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    """Counting a lift takes seconds at scale: a report nobody has read for a week is left
    alone until someone reads it again."""
    pid = _program(client, tenant, database)
    worker = Worker(database, settings, providers)
    client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers)
    first = _stored(database, tenant, pid)
    assert first is not None
    # A refresh by the worker is not a read: only a reader moves read_at.
    _age(database, tenant, pid, settings.report_refresh_seconds)
    assert worker.refresh_snapshots() == 1
    again = _stored(database, tenant, pid)
    assert again is not None
    assert again.read_at == first.read_at
    # Not read for longer than KEEP_WARM: stale snapshots are left for their next reader.
    with database.session() as session:
        session.execute(
            update(ReportSnapshot).values(
                read_at=utcnow() - snapshots.KEEP_WARM - timedelta(minutes=1)
            )
        )
    _age(database, tenant, pid, settings.report_refresh_seconds)
    assert worker.refresh_snapshots() == 0
    # A reader finds it stale, counts it and marks it read: the worker keeps it warm again.
    answer = client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers).json()
    assert answer["snapshot"] is False
    marked = _stored(database, tenant, pid)
    assert marked is not None
    assert utcnow() - marked.read_at < timedelta(minutes=1)
    _age(database, tenant, pid, settings.report_refresh_seconds)
    assert worker.refresh_snapshots() == 1
    # A reader served the stored snapshot marks it read, at most once per READ_MARK.
    old_mark = utcnow() - snapshots.READ_MARK - timedelta(minutes=1)
    with database.session() as session:
        session.execute(update(ReportSnapshot).values(read_at=old_mark))
    answer = client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers).json()
    assert answer["snapshot"] is True
    remarked = _stored(database, tenant, pid)
    assert remarked is not None
    assert remarked.read_at > old_mark + timedelta(minutes=1)
    client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers)
    unchanged = _stored(database, tenant, pid)
    assert unchanged is not None
    assert unchanged.read_at == remarked.read_at


def test_weekly_rates_are_kept_and_rollup_rates_are_counted_live(
    client: TestClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    """Rates the rollups cannot answer (ISO weeks, windows off month bounds) are stored, the
    organization's and each department manager's apart; the others are read live."""
    _program(client, tenant, database)
    cohort(client, tenant, "E", "Engineering", 10, 4, utcnow() - timedelta(days=5))
    path = "/api/v1/analytics/completion-rates?by=department&period=week"

    def live(departments: frozenset[str] | None, at: datetime) -> list[dict[str, Any]]:
        params = snapshots.rates_params(
            by="department", period="week", start=None, end=None, departments=departments
        )
        with database.read_session() as session:
            result = snapshots.REPORTS[snapshots.COMPLETION_RATES](
                session, tenant.id, True, params, at
            )
        rows: list[dict[str, Any]] = result["rows"]
        return rows

    first = client.get(path, headers=tenant.headers).json()
    assert first["snapshot"] is False
    assert {r["department"] for r in first["rows"]} == {"Sales", "Engineering"}
    second = client.get(path, headers=tenant.headers).json()
    assert second == {**first, "snapshot": True}
    assert second["rows"] == live(None, datetime.fromisoformat(second["computed_at"]))
    # The same numbers from the pairs themselves (the reference the rollup tests use).
    with database.read_session() as session:
        reference = reports.completion_rates_from_pairs(
            session, tenant.id, True, by="department", period="week", start=None, end=None
        )
    assert second["rows"] == reference
    exported = client.get(path + "&format=csv", headers=tenant.headers).text
    assert len(list(csv.DictReader(io.StringIO(exported)))) == len(first["rows"])

    # New completions show once the snapshot is renewed (fresh=true here), not before.
    cohort(client, tenant, "F", "Engineering", 5, 5, utcnow() - timedelta(days=3))
    assert client.get(path, headers=tenant.headers).json()["rows"] == first["rows"]
    renewed = client.get(path + "&fresh=true", headers=tenant.headers).json()
    assert renewed["snapshot"] is False
    assert renewed["rows"] != first["rows"]
    assert client.get(path, headers=tenant.headers).json() == {**renewed, "snapshot": True}

    # A department manager's weekly rates: their own snapshot, only their department.
    make_user(
        database, tenant.id, "eng@acme.test", ["department_manager"], departments=["Engineering"]
    )
    eng = Browser(cast(FastAPI, client.app))
    eng.sign_in("acme", "eng@acme.test")
    mine = eng.client.get(path).json()
    assert mine["snapshot"] is False
    assert {r["department"] for r in mine["rows"]} == {"Engineering"}
    assert eng.client.get(path).json() == {**mine, "snapshot": True}
    assert mine["rows"] == live(
        frozenset({"Engineering"}), datetime.fromisoformat(mine["computed_at"])
    )

    # Monthly rates come from the rollups, live: nothing stored for them.
    monthly = client.get(
        "/api/v1/analytics/completion-rates?by=department&period=month", headers=tenant.headers
    ).json()
    assert monthly["snapshot"] is False
    with database.read_session() as session:
        kinds = session.execute(select(ReportSnapshot.report, ReportSnapshot.key)).all()
    assert all(report == snapshots.COMPLETION_RATES for report, _ in kinds)
    assert len(kinds) == 2  # the organization's weekly rates and the manager's
