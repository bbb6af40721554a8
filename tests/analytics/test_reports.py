"""Completion rates, control groups and lift, through the real API on both databases."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from laurel.programs import holdout
from laurel.programs.models import HoldoutAssignment
from laurel.rewards.models import Reward
from tests.conftest import Tenant, completion
from tests.factories import backdate_program, fixed_program


def _enrol(
    client: TestClient, tenant: Tenant, learners: list[str], course: str, when: datetime, **who: Any
) -> None:
    body = {
        "enrolments": [
            {
                "learner": {"external_id": name, **who},
                "course": {"external_id": course, "type": "compliance"},
                "enrolled_at": when.isoformat(),
            }
            for name in learners
        ]
    }
    answer = client.post("/api/v1/enrolments", json=body, headers=tenant.headers)
    assert answer.status_code == 200, answer.text


def _complete(
    client: TestClient, tenant: Tenant, learners: list[str], course: str, when: datetime
) -> list[dict[str, Any]]:
    events = [
        completion(
            f"done-{course}-{name}", learner=name, course=course, occurred_at=when.isoformat()
        )
        for name in learners
    ]
    answers: list[dict[str, Any]] = []
    for start in range(0, len(events), 500):
        sent = client.post(
            "/api/v1/completions/batch",
            json={"events": events[start : start + 500]},
            headers=tenant.headers,
        )
        assert sent.status_code == 200, sent.text
        answers.extend(sent.json()["results"])
    return answers


def _ids(database: Database, tenant: Tenant) -> dict[str, uuid.UUID]:
    with database.session() as session:
        rows = session.execute(
            select(Learner.external_id, Learner.id).where(Learner.organization_id == tenant.id)
        )
        found: dict[str, uuid.UUID] = {}
        for name, learner_id in rows:
            found[name] = learner_id
        return found


def test_completion_rates_by_course_and_department_with_exports(
    client: TestClient, tenant: Tenant
) -> None:
    when = utcnow() - timedelta(days=3)
    _enrol(client, tenant, ["A1", "A2", "A3", "A4"], "SEC-101", when, department="Sales")
    _enrol(client, tenant, ["B1", "B2"], "SEC-101", when, department="Legal")
    # Sending a pair again is harmless; a completion without enrolment counts as enrolled.
    _enrol(client, tenant, ["A1"], "SEC-101", when)
    _complete(client, tenant, ["A1", "A2", "B1", "C1"], "SEC-101", utcnow() - timedelta(days=1))
    by_course = client.get(
        "/api/v1/analytics/completion-rates?by=course&period=all", headers=tenant.headers
    ).json()["rows"]
    assert by_course == [
        {
            "course": "SEC-101",
            "period": "all",
            "enrolments": 7,
            "completions": 4,
            "completion_rate": 0.5714,
            "median_days_to_complete": 2.0,
        }
    ]
    by_department = client.get(
        "/api/v1/analytics/completion-rates?by=department&period=all", headers=tenant.headers
    ).json()["rows"]
    rates = {r["department"]: (r["enrolments"], r["completions"]) for r in by_department}
    # Rates use each learner's current department: completion() says B1 moved to Sales.
    assert rates == {"Sales": (6, 4), "Legal": (1, 0)}
    csv_answer = client.get(
        "/api/v1/analytics/completion-rates?by=department&period=all&format=csv",
        headers=tenant.headers,
    )
    assert csv_answer.headers["content-type"].startswith("text/csv")
    lines = csv_answer.text.splitlines()
    assert lines[0] == "department,period,enrolments,completions,completion_rate," + (
        "median_days_to_complete"
    )
    assert "Sales,all,6,4,0.6667,2.0" in lines
    assert "Legal,all,1,0,0.0," in lines
    xlsx = client.get(
        "/api/v1/analytics/completion-rates?by=department&period=all&format=xlsx",
        headers=tenant.headers,
    )
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:4] == ["department", "period", "enrolments", "completions"]
    assert ["Sales", "all", 6, 4] in [v[:4] for v in values]
    bad = client.get("/api/v1/analytics/completion-rates?by=shoe", headers=tenant.headers)
    assert bad.status_code == 422


def test_a_holdout_is_never_paid_and_lift_recovers_a_known_effect(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(client, tenant, key="certs", holdout_bps=5000)
    assert program["holdout_bps"] == 5000
    backdate_program(database, program["id"], utcnow() - timedelta(days=30))
    names = [f"L{n:04d}" for n in range(400)]
    _enrol(client, tenant, names, "CERT-1", utcnow() - timedelta(days=20))
    ids = _ids(database, tenant)
    pid = uuid.UUID(program["id"])
    control = [n for n in names if holdout.in_control(pid, ids[n], 5000)]
    treated = [n for n in names if n not in control]
    # The known effect: 60 % of the incentivised group completes, 30 % of the control group.
    finishers = [n for i, n in enumerate(treated) if i % 10 < 6]
    finishers += [n for i, n in enumerate(control) if i % 10 < 3]
    answers = _complete(client, tenant, finishers, "CERT-1", utcnow() - timedelta(days=12))
    held_out = {
        a["event"]["decisions"][0]["result"]
        for a, n in zip(answers, finishers, strict=True)
        if n in control
    }
    assert held_out == {"holdout"}
    with database.session() as session:
        paid = set(session.scalars(select(Reward.learner_id).where(Reward.program_id == pid)).all())
        recorded = dict(
            session.execute(
                select(HoldoutAssignment.learner_id, HoldoutAssignment.control).where(
                    HoldoutAssignment.program_id == pid
                )
            ).all()
        )
    assert paid == {ids[n] for n in finishers if n in treated}
    assert all(recorded[ids[n]] for n in finishers if n in control)
    report = client.get(f"/api/v1/analytics/programs/{pid}/lift", headers=tenant.headers).json()
    assert report["comparison"] == "holdout"
    incentivised, baseline = report["groups"]
    k1 = sum(1 for i in range(len(treated)) if i % 10 < 6)
    k2 = sum(1 for i in range(len(control)) if i % 10 < 3)
    assert (incentivised["enrolments"], incentivised["completions"]) == (len(treated), k1)
    assert (baseline["enrolments"], baseline["completions"]) == (len(control), k2)
    assert abs(report["lift"] - 0.3) < 0.02
    low, high = report["lift_ci95"]
    assert 0 < low < 0.3 < high
    assert incentivised["median_days_to_complete"] == 8.0
    # 25.00 USD per paid completion, spread over the completions the incentive added.
    spend = k1 * 2500
    assert report["spend"] == [{"amount": f"{spend / 100:.2f}", "currency": "USD"}]
    exact = k1 / len(treated) - k2 / len(control)
    expected = round(spend / (exact * len(treated)))
    assert report["cost_per_incremental_completion"]["USD"]["amount"] == f"{expected / 100:.2f}"


def test_assignment_is_kept_when_the_share_changes(
    database: Database, tenant: Tenant, client: TestClient
) -> None:
    program = fixed_program(client, tenant, key="kept", holdout_bps=5000)
    _enrol(client, tenant, [f"K{n}" for n in range(40)], "K-1", utcnow() - timedelta(days=1))
    ids = list(_ids(database, tenant).values())
    pid = uuid.UUID(program["id"])
    with database.session() as session:
        first = holdout.assign_many(
            session, tenant.id, True, [holdout.Candidate(pid, i, 5000) for i in ids[:20]]
        )
    with database.session() as session:
        again = holdout.assign_many(
            session, tenant.id, True, [holdout.Candidate(pid, i, 0) for i in ids]
        )
    assert {k: again[k] for k in first} == first
    assert any(first.values())
    assert not any(again[(pid, i)] for i in ids[20:])


def test_without_a_holdout_the_same_courses_before_the_program_are_the_baseline(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(client, tenant, key="plain")
    backdate_program(database, program["id"], utcnow() - timedelta(days=10))
    before = [f"P{n}" for n in range(10)]
    after = [f"Q{n}" for n in range(10)]
    _enrol(client, tenant, before, "PLAIN-1", utcnow() - timedelta(days=15))
    _complete(client, tenant, before[:2], "PLAIN-1", utcnow() - timedelta(days=14))
    _enrol(client, tenant, after, "PLAIN-1", utcnow() - timedelta(days=5))
    _complete(client, tenant, after[:7], "PLAIN-1", utcnow() - timedelta(days=2))
    report = client.get(
        f"/api/v1/analytics/programs/{program['id']}/lift", headers=tenant.headers
    ).json()
    assert report["comparison"] == "pre_period"
    assert "before the program started" in report["note"]
    assert [(g["group"], g["enrolments"], g["completions"]) for g in report["groups"]] == [
        ("incentivised", 10, 7),
        ("pre_period", 10, 2),
    ]
    assert report["lift"] == 0.5
    csv_rows = client.get(
        f"/api/v1/analytics/programs/{program['id']}/lift?format=csv", headers=tenant.headers
    ).text.splitlines()
    assert csv_rows[0].startswith("group,enrolments,completions,completion_rate")
    assert len(csv_rows) == 3
    missing = client.get(f"/api/v1/analytics/programs/{uuid.uuid4()}/lift", headers=tenant.headers)
    assert missing.status_code == 404


def test_overview_counts_completions_rewards_and_latency(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant, key="over")
    _complete(client, tenant, ["O1", "O2"], "OV-1", utcnow())
    found = client.get("/api/v1/analytics/overview", headers=tenant.headers).json()
    assert found["completions"] == 2
    assert sum(found["rewards"].values()) == 2
    assert set(found["delivery_latency_seconds"]) == {"p50", "p95"}
