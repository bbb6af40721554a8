"""Data-subject requests: deadlines by jurisdiction, erasure, correction, opt-out, reminders."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, Text, func, select

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.models import Base
from laurel.privacy.jurisdiction import jurisdiction
from laurel.privacy.models import Jurisdiction
from laurel.rewards.models import Reward
from tests.conftest import Tenant, completion
from tests.privacy.support import earn, learner_id, populate


@pytest.mark.parametrize(
    ("country", "region", "expected"),
    [
        ("DE", None, Jurisdiction.gdpr),
        ("IE", None, Jurisdiction.gdpr),
        ("NO", None, Jurisdiction.gdpr),
        ("GB", None, Jurisdiction.gdpr),
        ("US", "CA", Jurisdiction.ccpa),
        ("US", "US-CA", Jurisdiction.ccpa),
        ("US", "NY", Jurisdiction.other),
        ("CA", "ON", Jurisdiction.pipeda),
        ("CH", None, Jurisdiction.other),
        (None, None, Jurisdiction.other),
    ],
)
def test_jurisdiction(country: str | None, region: str | None, expected: Jurisdiction) -> None:
    assert jurisdiction(country, region) is expected


def _open(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/privacy/requests", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_deadlines_follow_the_jurisdiction(client: TestClient, tenant: Tenant) -> None:
    people = populate(client, tenant)
    earn(client, tenant, "c-1", "E3003", "SEC-101", country="CA", region="ON")
    canadian = learner_id(client, tenant, "E3003")
    received = (utcnow() - timedelta(days=3)).replace(microsecond=0)
    cases = [(people.a, "gdpr", 30), (people.b, "ccpa", 45), (canadian, "pipeda", 30)]
    for who, law, days in cases:
        made = _open(
            client, tenant, learner_id=who, kind="access", received_at=received.isoformat()
        )
        assert made["jurisdiction"] == law
        assert made["status"] == "open"
        due = made["due_at"].replace("Z", "+00:00")
        assert due == (received + timedelta(days=days)).isoformat()
    profile = client.get(f"/api/v1/privacy/learners/{people.b}", headers=tenant.headers).json()
    assert profile["jurisdiction"] == "ccpa"
    assert [c["purpose"] for c in profile["consents"]] == ["reward_delivery"]
    assert profile["consents"][0]["lawful_basis"] == "consent"
    assert profile["consents"][0]["source"] == "lms:moodle"
    assert len(profile["requests"]) == 1


def test_bad_requests_name_the_field(client: TestClient, tenant: Tenant) -> None:
    people = populate(client, tenant)
    wrong = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": people.a, "kind": "correction", "corrections": {"email": "nope"}},
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["field"] == "corrections.email"
    empty = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": people.a, "kind": "correction"},
    )
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["field"] == "corrections"
    kind = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": people.a, "kind": "forget"},
    )
    assert kind.status_code == 422
    assert kind.json()["detail"][0]["field"] == "kind"


def _text_rows_containing(database: Database, needle: str) -> set[str]:
    """Tables with any text or JSON column holding ``needle``."""
    hits = set()
    with database.read_session() as session:
        for name, table in Base.metadata.tables.items():
            for column in table.c:
                if isinstance(column.type, String | Text) or "JSON" in type(column.type).__name__:
                    text_value = (
                        func.cast(column, String)
                        if "JSON" in type(column.type).__name__
                        else column
                    )
                    found = session.scalar(
                        select(func.count()).select_from(table).where(text_value.contains(needle))
                    )
                    if found:
                        hits.add(name)
    return hits


def _totals(database: Database) -> list[tuple[Any, ...]]:
    with database.read_session() as session:
        return list(
            session.execute(
                select(Reward.currency, func.count(), func.sum(Reward.amount_minor))
                .group_by(Reward.currency)
                .order_by(Reward.currency)
            )
        )


def test_deletion_erases_what_can_go_and_explains_what_stays(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    totals = _totals(database)
    # Sealed under Ana's own key: the row holds no name in clear, the API reads it.
    assert "learners" not in _text_rows_containing(database, "Ana Díaz")
    ana = client.get(f"/api/v1/learners/{people.a}", headers=tenant.headers).json()
    assert ana["name"] == "Ana Díaz"
    made = _open(client, tenant, learner_id=people.a, kind="deletion")
    done = client.post(
        f"/api/v1/privacy/requests/{made['id']}/fulfil", headers=tenant.headers
    ).json()
    assert done["status"] == "completed"
    outcome = done["outcome"]
    assert outcome["pseudonymised"]["learners"] == 1
    assert outcome["pseudonymised"]["completion_events"] == 2
    assert outcome["deleted"] == {
        "roster_entries": 1,
        "consent_records": 1,
        "phi_records": 0,
        "learner_sign_in_links": 0,
        "learner_sessions": 0,
        "points_badge_awards": 0,
        "points_streaks": 0,
        "points_expiry_notices": 0,
        "learner_keys": 1,
    }
    money = outcome["kept"][0]
    assert "rewards" in money["records"]
    assert "tax" in money["reason"]
    # Seven years of 365 days after the end of the tax year of the latest reward.
    end_of_year = date(utcnow().year, 12, 31)
    assert money["until"] == (end_of_year + timedelta(days=7 * 365)).isoformat()
    assert "screening_results" in money["records"]
    assert outcome["kept"][-1]["records"] == ["audit_entries"]
    shredded = outcome["kept"][-2]
    assert shredded["records"] == ["learners"]
    assert "key was destroyed" in shredded["reason"]

    # Only the kept sanctions-screening record still holds the screened name; the audit log
    # holds the external id the learner was created with.
    assert _text_rows_containing(database, "Ana Díaz") <= {"screening_results"}
    assert _text_rows_containing(database, "e1001@example.com") == set()
    assert _text_rows_containing(database, "E1001") <= {"audit_entries"}
    # Bo is untouched: his name is sealed on his row (events keep no copy of it) and in the
    # screening record of his reward, and the API still reads it.
    assert _text_rows_containing(database, "Bo Berg") == {"screening_results"}
    bo = client.get(f"/api/v1/learners/{people.b}", headers=tenant.headers).json()
    assert bo["name"] == "Bo Berg"
    assert _totals(database) == totals
    learner = client.get(f"/api/v1/learners/{people.a}", headers=tenant.headers).json()
    assert (learner["name"], learner["email"]) == (None, None)
    assert learner["external_id"] == f"erased-{people.a}"

    # The LMS sends the old event id again: the kept event still makes it a duplicate (a
    # changed body is refused), so nothing is paid twice.
    again = client.post(
        "/api/v1/completions",
        headers=tenant.headers,
        json=completion("a-1", learner="E1001", course="SEC-101"),
    )
    assert again.status_code == 409, again.text
    assert _totals(database) == totals

    twice = client.post(f"/api/v1/privacy/requests/{made['id']}/fulfil", headers=tenant.headers)
    assert twice.status_code == 409
    later = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": people.a, "kind": "deletion"},
    )
    assert later.status_code == 409


def test_correction_and_opt_out(client: TestClient, tenant: Tenant) -> None:
    people = populate(client, tenant)
    fix = _open(
        client,
        tenant,
        learner_id=people.a,
        kind="correction",
        corrections={"name": "Ana María Díaz", "region": "BY"},
    )
    done = client.post(f"/api/v1/privacy/requests/{fix['id']}/fulfil", headers=tenant.headers)
    assert done.json()["outcome"]["corrected"] == ["name", "region"]
    learner = client.get(f"/api/v1/learners/{people.a}", headers=tenant.headers).json()
    assert (learner["name"], learner["region"]) == ("Ana María Díaz", "BY")

    opt = _open(client, tenant, learner_id=people.b, kind="opt_out")
    assert opt["jurisdiction"] == "ccpa"
    done = client.post(f"/api/v1/privacy/requests/{opt['id']}/fulfil", headers=tenant.headers)
    assert done.json()["status"] == "completed"
    profile = client.get(f"/api/v1/privacy/learners/{people.b}", headers=tenant.headers).json()
    assert profile["sale_opt_out_at"] is not None

    access = _open(client, tenant, learner_id=people.b, kind="access")
    wrong = client.post(f"/api/v1/privacy/requests/{access['id']}/fulfil", headers=tenant.headers)
    assert wrong.status_code == 409
    refused = client.post(
        f"/api/v1/privacy/requests/{access['id']}/refuse",
        headers=tenant.headers,
        json={"reason": "identity not verified"},
    ).json()
    assert (refused["status"], refused["outcome"]["reason"]) == (
        "refused",
        "identity not verified",
    )


def test_reminders_before_the_deadline_once_a_day(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    soon = _open(
        client,
        tenant,
        learner_id=people.a,
        kind="access",
        received_at=(utcnow() - timedelta(days=25)).isoformat(),
    )
    late = _open(
        client,
        tenant,
        learner_id=people.b,
        kind="deletion",
        received_at=(utcnow() - timedelta(days=50)).isoformat(),
    )
    _open(client, tenant, learner_id=people.b, kind="access")  # due in 45 days: not yet
    env = os.environ | {"LAUREL_DATABASE_URL": database.url}
    command = [sys.executable, "-m", "laurel", "privacy", "remind"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[-1] == "2 request(s) reminded"
    assert lines[0].startswith(late["id"])
    assert "OVERDUE" in lines[0]
    assert lines[1].startswith(soon["id"])
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert second.stdout.strip() == "0 request(s) reminded"
    overdue = client.get(
        "/api/v1/privacy/requests", headers=tenant.headers, params={"overdue": True}
    ).json()
    assert [r["id"] for r in overdue] == [late["id"]]
    assert overdue[0]["reminded_at"] is not None
    trail = client.get(
        "/api/v1/audit", headers=tenant.headers, params={"action": "privacy:request:remind"}
    ).json()
    assert {e["target_id"] for e in trail} == {soon["id"], late["id"]}
