"""The reports grouped by the database, checked against a small data set computed by hand.

Six learners, two courses, enrolments and completions at fixed times chosen to cross a year,
an ISO week boundary and a quarter; a completion without an enrolment, one before its
enrolment, a repeated pass, a failure and test-mode rows that must never count. Then the same
reports as each role: a department manager's answers, downloads and pages hold their
departments' rows only.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import delete, select, update

from laurel.analytics import pairs
from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.enrolments.models import Enrolment
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from tests.analytics.support import cohort
from tests.auth.support import Browser, make_user
from tests.conftest import Tenant, completion
from tests.factories import backdate_program, fixed_program

DEPARTMENTS = {
    "S1": "Sales",
    "S2": "Sales",
    "S3": "Sales",
    "E1": "Engineering",
    "E2": "Engineering",
}
TYPES = {"C1": "compliance", "C2": "elective"}


def at(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


def learner(name: str) -> dict[str, Any]:
    body: dict[str, Any] = {"external_id": name, "classification": "employee", "country": "US"}
    if name in DEPARTMENTS:
        body["department"] = DEPARTMENTS[name]
    return body


def enrol(client: TestClient, headers: dict[str, str], name: str, course: str, when: str) -> None:
    body = {
        "enrolments": [
            {
                "learner": learner(name),
                "course": {"external_id": course, "type": TYPES[course]},
                "enrolled_at": at(when),
            }
        ]
    }
    answer = client.post("/api/v1/enrolments", json=body, headers=headers)
    assert answer.status_code == 200, answer.text


def complete(
    client: TestClient,
    headers: dict[str, str],
    event: str,
    name: str,
    course: str,
    when: str,
    outcome: str = "passed",
) -> None:
    body = completion(event, learner=name, course=course, outcome=outcome, occurred_at=at(when))
    body["learner"] = {**learner(name), "email": f"{name.lower()}@example.com"}
    body["course"] = {"external_id": course, "type": TYPES[course], "title": course}
    answer = client.post("/api/v1/completions", json=body, headers=headers)
    assert answer.status_code == 202, answer.text


@pytest.fixture
def app(settings: Settings, database: Database, providers: ProviderRegistry) -> FastAPI:
    return create_app(settings, database, providers=providers)


@pytest.fixture
def api(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture
def data(api: TestClient, tenant: Tenant) -> Tenant:
    live = tenant.headers
    enrol(api, live, "S1", "C1", "2025-12-29T10:00:00")  # ISO week 2026-W01, 2025-Q4
    enrol(api, live, "S2", "C1", "2026-01-05T00:00:00")
    enrol(api, live, "S3", "C1", "2026-01-05T12:00:00")
    enrol(api, live, "E1", "C1", "2026-02-01T00:00:00")  # a Sunday: 2026-W05
    enrol(api, live, "E2", "C2", "2026-02-01T00:00:00")
    complete(api, live, "s1-a", "S1", "C1", "2026-01-02T10:00:00")  # 4 days
    complete(api, live, "s1-b", "S1", "C1", "2026-01-10T10:00:00")  # again: the first counts
    complete(api, live, "s2-a", "S2", "C1", "2026-01-06T00:00:00", outcome="failed")
    complete(api, live, "s3-a", "S3", "C1", "2026-01-06T00:00:00", outcome="completed")  # 0.5
    complete(api, live, "e1-a", "E1", "C1", "2026-02-03T06:00:00")  # 2.25 days
    complete(api, live, "e2-a", "E2", "C2", "2026-01-20T00:00:00")  # before enrolling: 0 days
    # No enrolment: enrolled when completed (0 days), ISO week 2026-W14, no department.
    complete(api, live, "x1-a", "X1", "C2", "2026-03-31T23:59:59.500000")
    # Test mode: never in a live report.
    test = tenant.test_headers
    for n in range(3):
        enrol(api, test, f"S{n + 1}", "C1", "2026-01-05T00:00:00")
        complete(api, test, f"t-{n}", f"S{n + 1}", "C1", "2026-01-06T00:00:00")
    enrol(api, test, "T9", "C2", "2026-01-05T00:00:00")
    return tenant


def rates(client: TestClient, headers: dict[str, str], query: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/analytics/completion-rates?{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def brief(rows: list[dict[str, Any]], by: str) -> list[tuple[Any, ...]]:
    return [
        (
            r[by],
            r["period"],
            r["enrolments"],
            r["completions"],
            r["completion_rate"],
            r["median_days_to_complete"],
        )
        for r in rows
    ]


def test_rates_match_the_hand_computed_set(api: TestClient, data: Tenant) -> None:
    live = data.headers
    assert brief(rates(api, live, "by=course&period=all"), "course") == [
        ("C1", "all", 4, 3, 0.75, 2.0),  # whole days: 4, 0 (half a day) and 2 (2.25)
        ("C2", "all", 2, 2, 1.0, 0.0),
    ]
    assert brief(rates(api, live, "by=course_type&period=all"), "course_type") == [
        ("compliance", "all", 4, 3, 0.75, 2.0),
        ("elective", "all", 2, 2, 1.0, 0.0),
    ]
    assert brief(rates(api, live, "by=department&period=all"), "department") == [
        ("Engineering", "all", 2, 2, 1.0, 1.0),  # median of 2 and 0
        ("Sales", "all", 3, 2, 0.6667, 2.0),  # median of 4 and 0
        ("unknown", "all", 1, 1, 1.0, 0.0),
    ]
    assert brief(rates(api, live, "by=course&period=week"), "course") == [
        ("C1", "2026-W01", 1, 1, 1.0, 4.0),
        ("C1", "2026-W02", 2, 1, 0.5, 0.0),
        ("C1", "2026-W05", 1, 1, 1.0, 2.0),
        ("C2", "2026-W05", 1, 1, 1.0, 0.0),
        ("C2", "2026-W14", 1, 1, 1.0, 0.0),
    ]
    assert brief(rates(api, live, "by=course&period=quarter"), "course") == [
        ("C1", "2025-Q4", 1, 1, 1.0, 4.0),
        ("C1", "2026-Q1", 3, 2, 0.6667, 1.0),
        ("C2", "2026-Q1", 2, 2, 1.0, 0.0),
    ]
    assert brief(rates(api, live, "by=country&period=month"), "country") == [
        ("US", "2025-12", 1, 1, 1.0, 4.0),
        ("US", "2026-01", 2, 1, 0.5, 0.0),
        ("US", "2026-02", 2, 2, 1.0, 1.0),
        ("US", "2026-03", 1, 1, 1.0, 0.0),
    ]
    assert brief(rates(api, live, "by=classification&period=year"), "classification") == [
        ("employee", "2025", 1, 1, 1.0, 4.0),
        ("employee", "2026", 5, 4, 0.8, 0.0),
    ]
    # The window is on the enrolment time, start inclusive and end exclusive.
    window = "by=course&period=all&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
    assert brief(rates(api, live, window), "course") == [("C1", "all", 2, 1, 0.5, 0.0)]


def test_test_mode_reads_only_test_rows(api: TestClient, data: Tenant) -> None:
    assert brief(rates(api, data.test_headers, "by=course&period=all"), "course") == [
        ("C1", "all", 3, 3, 1.0, 1.0),
        ("C2", "all", 1, 0, 0.0, None),
    ]
    live = api.get("/api/v1/analytics/overview", headers=data.headers).json()
    assert live["completions"] == 6  # S1 twice, S3, E1, E2, X1: the failure and test rows not
    test = api.get("/api/v1/analytics/overview", headers=data.test_headers).json()
    assert test["completions"] == 3


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_each_role_sees_its_part(
    app: FastAPI, api: TestClient, data: Tenant, database: Database
) -> None:
    make_user(database, data.id, "ld@acme.test", ["program_manager"])
    make_user(database, data.id, "sales@acme.test", ["department_manager"], departments=["Sales"])
    make_user(database, data.id, "nobody@acme.test", ["department_manager"])
    make_user(database, data.id, "me@acme.test", ["learner"])
    everyone, sales, nobody, learner_ = (Browser(app) for _ in range(4))
    everyone.sign_in("acme", "ld@acme.test")
    sales.sign_in("acme", "sales@acme.test")
    nobody.sign_in("acme", "nobody@acme.test")
    learner_.sign_in("acme", "me@acme.test")

    org = brief(rates(everyone.client, {}, "by=department&period=all"), "department")
    assert [r[0] for r in org] == ["Engineering", "Sales", "unknown"]
    mine = brief(rates(sales.client, {}, "by=department&period=all"), "department")
    assert mine == [("Sales", "all", 3, 2, 0.6667, 2.0)]
    assert brief(rates(sales.client, {}, "by=course&period=all"), "course") == [
        ("C1", "all", 3, 2, 0.6667, 2.0)
    ]
    assert rates(nobody.client, {}, "by=course&period=all") == []

    # Downloads carry the same rows: no other department's.
    exported = sales.client.get("/api/v1/analytics/completion-rates?by=department&format=csv")
    assert exported.status_code == 200
    assert {row["department"] for row in _csv(exported.text)} == {"Sales"}
    sheet = sales.client.get("/api/v1/analytics/completion-rates?by=course&period=all&format=xlsx")
    book = load_workbook(io.BytesIO(sheet.content)).active
    assert book is not None
    values = [list(r) for r in book.iter_rows(values_only=True)]
    assert [v[2:4] for v in values[1:]] == [[3, 2]]

    overview = sales.client.get("/api/v1/analytics/overview").json()
    assert overview["completions"] == 3  # S1 twice and S3
    assert everyone.client.get("/api/v1/analytics/overview").json()["completions"] == 6
    summary = sales.client.get("/api/v1/analytics/overview?format=csv")
    assert _csv(summary.text)[0]["completions"] == "3"

    # Pages and fragments: the manager's overview and rates hold Sales only.
    fragment = sales.client.get("/dashboard/overview/rates?by=department").text
    assert "<td>Sales</td>" in fragment
    assert "Engineering" not in fragment
    assert "unknown" not in fragment
    numbers = sales.client.get("/dashboard/overview/numbers").text
    assert '<div class="num" data-testid="completions">3</div>' in numbers
    team = sales.client.get("/dashboard/team/rates").text
    assert "<td>Sales</td>" in team
    assert "Engineering" not in team

    # A learner has no reports at all.
    assert learner_.client.get("/api/v1/analytics/overview").status_code == 403
    assert learner_.client.get("/api/v1/analytics/completion-rates").status_code == 403
    assert learner_.client.get("/dashboard/overview").status_code == 403


def test_lift_with_a_known_effect_per_department(
    app: FastAPI, api: TestClient, tenant: Tenant, database: Database
) -> None:
    """Newcombe's example (56/70 against 48/80: 0.2000, 95 % interval 0.0524 to 0.3339) as
    Sales' completions after and before a program without a holdout; Engineering's numbers
    (10/10 before, 0/10 after) count for the organization and never for the Sales manager."""
    program = fixed_program(api, tenant, key="lift")
    backdate_program(database, program["id"], utcnow() - timedelta(days=10))
    before, after = utcnow() - timedelta(days=15), utcnow() - timedelta(days=5)
    cohort(api, tenant, "SB", "Sales", 80, 48, before, before + timedelta(days=1))
    cohort(api, tenant, "SA", "Sales", 70, 56, after, after + timedelta(days=3))
    cohort(api, tenant, "EB", "Engineering", 10, 10, before, before + timedelta(days=1))
    cohort(api, tenant, "EA", "Engineering", 10, 0, after, after)
    make_user(database, tenant.id, "sales@acme.test", ["department_manager"], departments=["Sales"])
    make_user(database, tenant.id, "ld@acme.test", ["program_manager"])
    sales, everyone = Browser(app), Browser(app)
    sales.sign_in("acme", "sales@acme.test")
    everyone.sign_in("acme", "ld@acme.test")
    path = f"/api/v1/analytics/programs/{program['id']}/lift"

    mine = sales.client.get(path).json()
    assert mine["comparison"] == "pre_period"
    assert [(g["group"], g["enrolments"], g["completions"]) for g in mine["groups"]] == [
        ("incentivised", 70, 56),
        ("pre_period", 80, 48),
    ]
    assert mine["lift"] == 0.2
    assert mine["lift_ci95"] == [0.0524, 0.3339]
    assert mine["groups"][0]["median_days_to_complete"] == 3.0
    # 56 rewards of 25.00 USD over 0.2 × 70 = 14 incremental completions.
    assert mine["spend"] == [{"amount": "1400.00", "currency": "USD"}]
    assert mine["cost_per_incremental_completion"]["USD"]["amount"] == "100.00"
    exported = _csv(sales.client.get(path + "?format=csv").text)
    assert [(r["group"], r["enrolments"]) for r in exported] == [
        ("incentivised", "70"),
        ("pre_period", "80"),
    ]

    org = everyone.client.get(path).json()
    assert [(g["enrolments"], g["completions"]) for g in org["groups"]] == [(80, 56), (90, 58)]
    assert org["lift"] == round(56 / 80 - 58 / 90, 4)


def _pairs(database: Database, tenant: Tenant, livemode: bool) -> tuple[set[Any], set[Any]]:
    """``learning_pairs`` as the triggers keep it, and the same grouped from the sources."""
    kept = pairs.subquery(tenant.id, livemode)
    grouped = pairs.from_sources(tenant.id, livemode)
    with database.session() as session:
        return (
            {tuple(r) for r in session.execute(select(kept))},
            {tuple(r) for r in session.execute(select(grouped))},
        )


def test_the_kept_pairs_follow_every_write(
    api: TestClient, data: Tenant, database: Database
) -> None:
    for livemode in (True, False):
        kept, grouped = _pairs(database, data, livemode)
        assert kept == grouped
        assert len(kept) == (6 if livemode else 4)
    # An enrolment moved back, then removed; a completion removed (as erasure does).
    with database.session() as session:
        session.execute(
            update(Enrolment)
            .where(Enrolment.organization_id == data.id, Enrolment.livemode.is_(True))
            .values(enrolled_at=datetime(2025, 6, 1, tzinfo=UTC))
        )
    assert len(set.intersection(*_pairs(database, data, True))) == 6
    with database.session() as session:
        gone = select(Learner.id).where(
            Learner.organization_id == data.id,
            Learner.livemode.is_(True),
            Learner.external_id.in_(["S1", "S2"]),
        )
        session.execute(delete(Enrolment).where(Enrolment.learner_id.in_(gone)))
        done = select(CompletionEvent.id).where(
            CompletionEvent.organization_id == data.id,
            CompletionEvent.source_event_id.in_(["s1-a", "x1-a", "e1-a"]),
        )
        session.execute(delete(CompletionEvent).where(CompletionEvent.id.in_(done)))
    kept, grouped = _pairs(database, data, True)
    assert kept == grouped
    # Gone: X1 (its only completion removed) and S2 (enrolled, never completed). S1 stays,
    # enrolled as of its remaining pass (10 January); E1 is enrolled but no longer completed.
    assert len(kept) == 4
    rows = rates(api, data.headers, "by=course&period=all")
    assert [(r["course"], r["enrolments"], r["completions"]) for r in rows] == [
        ("C1", 3, 2),
        ("C2", 1, 1),
    ]
    s1 = [p for p in kept if p[3] is not None and p[2] == p[3]]
    assert [p[2] for p in s1] == [datetime(2026, 1, 10, 10, tzinfo=UTC)]
