"""The dry run: the real decision and the real gates, and nothing kept afterwards."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.audit import service as audit
from laurel.courses import service as courses
from laurel.courses.models import CourseType
from laurel.courses.schemas import CourseCreate
from laurel.db import Database
from laurel.events.models import Outcome
from laurel.kit.errors import NotFound
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.learners.models import Classification
from laurel.learners.schemas import LearnerCreate
from laurel.programs import service as programs
from laurel.programs.schemas import ProgramCreate
from laurel.rewards import dryrun
from tests.conftest import Tenant, completion
from tests.dashboard.support import import_lists
from tests.factories import table_counts
from tests.screening.support import sample_folder


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def make_program(database: Database, tenant: Tenant, **fields: Any) -> uuid.UUID:
    body: dict[str, Any] = {
        "key": "certs",
        "name": "Certifications",
        "currency": "USD",
        "rules": [{"name": "flat", "value": {"kind": "fixed", "amount": money("200.00")}}],
        **fields,
    }
    with database.session() as session:
        view = programs.create_program(
            session, tenant.actor, ProgramCreate.model_validate(body), "USD"
        )
        return view.program.id


def make_people(
    database: Database, tenant: Tenant, *, name: str = "Ana Díaz"
) -> tuple[uuid.UUID, uuid.UUID]:
    with database.session() as session:
        person = learners.create(
            session,
            tenant.actor,
            LearnerCreate(
                external_id="E1",
                email="e1@example.com",
                name=name,
                classification=Classification.employee,
                department="Sales",
                country="US",
            ),
        )
        course = courses.create(
            session,
            tenant.actor,
            CourseCreate(external_id="SEC-101", title="Security", type=CourseType.compliance),
        )
        return person.id, course.id


def rehearse(database: Database, tenant: Tenant, learner: uuid.UUID, course: uuid.UUID) -> Any:
    with database.session() as session:
        return dryrun.dry_run(session, tenant.actor, learner, course)


def test_names_amount_channel_and_every_hold_and_keeps_nothing(
    database: Database, tenant: Tenant
) -> None:
    program = make_program(
        database, tenant, approval_threshold=money("150.00"), budget=money("100.00")
    )
    learner, course = make_people(database, tenant)
    before = table_counts(database)
    found = rehearse(database, tenant, learner, course).for_program(program)
    assert table_counts(database) == before
    with database.read_session() as session:
        assert audit.verify_chain(session, tenant.id).ok
    assert found.result == "rewarded"
    assert found.amount == Money(20000, "USD")
    assert found.rule_name == "flat"
    assert (found.delivery, found.providers) == ("instant", ("sandbox",))
    held = [(c.gate, c.reason, c.after_holds) for c in found.holds]
    assert held == [
        ("approval", "approval_required", False),
        ("budget", "budget_exhausted", True),
    ]
    assert "150.00" in (found.holds[0].message or "")
    assert found.state == "held"
    # Every gate was asked and said why, in pipeline order.
    assert [c.gate for c in found.checks][:2] == ["roster", "screening"]


def test_predicts_what_intake_then_does(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    program = make_program(database, tenant, approval_threshold=money("150.00"))
    learner, course = make_people(database, tenant)
    predicted = rehearse(database, tenant, learner, course).for_program(program)
    assert predicted.state == "held"
    answer = client.post(
        "/api/v1/completions",
        headers=tenant.headers,
        json=completion("e-1", learner="E1", course="SEC-101"),
    )
    assert answer.status_code == 202, answer.text
    [made] = answer.json()["rewards"]
    reward = client.get(f"/api/v1/rewards/{made['id']}", headers=tenant.headers).json()
    assert reward["state"] == predicted.state
    assert [h["reason"] for h in reward["hold_reasons"]] == [
        c.reason for c in predicted.holds if not c.after_holds
    ]
    assert reward["amount"] == predicted.amount.to_json()
    # The same learner and course again: intake would call it a duplicate.
    again = rehearse(database, tenant, learner, course).for_program(program)
    assert (again.result, again.amount, again.checks) == ("duplicate", None, ())


def test_screening_hold_is_named_and_no_case_is_kept(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    import_lists(database, sample_folder(tmp_path / "ofac"))
    program = make_program(database, tenant)
    learner, course = make_people(database, tenant, name="Ismail Haniyeh")
    before = table_counts(database)
    found = rehearse(database, tenant, learner, course).for_program(program)
    assert table_counts(database) == before
    assert before["screening_cases"] == before["screening_results"] == 0
    [hold] = found.holds
    assert (hold.gate, hold.reason) == ("screening", "screening_review")
    assert "HANIYEH" in (hold.message or "").upper()


def test_not_eligible_no_rule_and_scope(database: Database, tenant: Tenant) -> None:
    partners = make_program(database, tenant, eligibility={"classifications": ["channel_partner"]})
    learner, course = make_people(database, tenant)
    with database.session() as session:
        view = programs.create_program(
            session,
            tenant.actor,
            ProgramCreate.model_validate(
                {
                    "key": "leaders",
                    "name": "Leaders",
                    "currency": "USD",
                    "rules": [
                        {
                            "conditions": {"course_types": ["leadership"]},
                            "value": {"kind": "fixed", "amount": money("50.00")},
                        }
                    ],
                }
            ),
            "USD",
        )
    run = rehearse(database, tenant, learner, course)
    assert run.for_program(partners).result == "not_eligible"
    assert "employee" in (run.for_program(partners).reason or "")
    assert run.for_program(view.program.id).result == "no_matching_rule"
    failed = dryrun.dry_run
    manager = dataclasses.replace(tenant.actor, departments=frozenset({"Engineering"}))
    with database.session() as session, pytest.raises(NotFound):
        failed(session, manager, learner, course, outcome=Outcome.completed)
