"""The tax gate end to end: completions in, treatment recorded, holds, requests, release."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.db import Database
from laurel.tax.models import TaxFormRequest
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.tax.support import (
    W8BEN,
    W9,
    Outbox,
    earn,
    reasons,
    record_of,
    reward_state,
    settings,
)


def _record(client: TestClient, tenant: Tenant, reward: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/tax/rewards/{reward['id']}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_employee_rewards_are_wages_and_pass(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="2500.00")
    reward = earn(client, tenant, "e-1", classification="employee")
    assert reward["state"] == "ready"
    record = _record(client, tenant, reward)
    assert (record["treatment"], record["form_type"], record["box"]) == ("wages", "W-2", "wages")
    assert record["status"] == "gated"
    assert record["usd"] == {"amount": "2500.00", "currency": "USD"}


def test_employee_prize_policy_reports_on_1099_misc(client: TestClient, tenant: Tenant) -> None:
    settings(client, tenant, employee_treatment="prize")
    fixed_program(client, tenant, amount="25.00")
    record = _record(client, tenant, earn(client, tenant, "e-1", classification="employee"))
    assert (record["treatment"], record["form_type"], record["box"]) == (
        "employee_prize",
        "1099-MISC",
        "3",
    )


def test_contractor_without_w9_is_held_and_the_form_releases_it(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    fixed_program(client, tenant, amount="25.00")
    reward = earn(client, tenant, "e-1", classification="contractor", learner="C1")
    assert reward["state"] == "held"
    assert reasons(reward) == ["tax_form_required"]
    assert "W-9" in reward["hold_reasons"][0]["message"]
    [notice] = outbox.notices
    assert notice.form == "W-9"
    assert notice.recipient_email == "c1@example.com"
    assert notice.locale == "es-MX"
    # A second reward asks nothing new: one open request per learner.
    second = earn(client, tenant, "e-2", classification="contractor", learner="C1")
    assert reasons(second) == ["tax_form_required"]
    assert len(outbox.notices) == 1

    page = client.post(f"/tax/forms/{outbox.token()}", data=W9)
    assert page.status_code == 200, page.text
    for held in (reward, second):
        assert reward_state(client, tenant, held["id"])["state"] == "ready"
    record = _record(client, tenant, reward)
    assert (record["treatment"], record["form_type"], record["box"]) == (
        "nonemployee_compensation",
        "1099-NEC",
        "1",
    )
    # The link takes one submission only.
    again = client.post(f"/tax/forms/{outbox.token()}", data=W9)
    assert again.status_code == 410


def test_channel_partner_needs_the_form_too(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    fixed_program(client, tenant, amount="5.00")
    reward = earn(client, tenant, "e-1", classification="channel_partner")
    assert reasons(reward) == ["tax_form_required"]
    assert outbox.notices[0].form == "W-9"


def test_customer_passes_below_the_2026_threshold_then_is_held(
    client: TestClient, tenant: Tenant, outbox: Outbox, database: Database
) -> None:
    fixed_program(client, tenant, amount="1000.00")
    first = earn(client, tenant, "e-1")
    assert first["state"] == "ready"
    # $1,000 reaches the $500 request amount: the learner is asked, nothing is held yet.
    assert [n.form for n in outbox.notices] == ["W-9"]
    second = earn(client, tenant, "e-2")
    # $2,000.00 equals the threshold: "equals or exceeds" holds it.
    assert reasons(second) == ["tax_form_required"]
    message = second["hold_reasons"][0]["message"]
    assert "$2,000.00" in message
    assert "1099-MISC" in message
    assert len(outbox.notices) == 1
    with database.session() as session:
        [request] = session.scalars(select(TaxFormRequest)).all()
        assert request.reason == "threshold"
        assert len(request.token_hash) == 64
        assert outbox.token() not in request.token_hash

    entered = client.put(
        f"/api/v1/tax/learners/{outbox.notices[0].learner_id}/form",
        json={**W9, "form": "W-9", "certify": True},
        headers=tenant.headers,
    )
    assert entered.status_code == 200, entered.text
    assert entered.json()["tin"] == "***-**-6780"
    assert reward_state(client, tenant, second["id"])["state"] == "ready"
    with database.session() as session:
        request = session.scalars(select(TaxFormRequest)).one()
        assert request.status == "cancelled"  # the form came another way


def test_2025_payments_use_the_600_threshold(
    client: TestClient, tenant: Tenant, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed_program(client, tenant, amount="600.00")
    monkeypatch.setattr("laurel.tax.gate.utcnow", lambda: datetime(2025, 12, 31, 15, 0, tzinfo=UTC))
    reward = earn(client, tenant, "e-1")
    assert reasons(reward) == ["tax_form_required"]
    assert "$600.00 threshold" in reward["hold_reasons"][0]["message"]
    assert "2025" in reward["hold_reasons"][0]["message"]


def test_an_organization_threshold_replaces_the_default(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    fixed_program(client, tenant, amount="2000.00")
    put = client.put(
        "/api/v1/tax/thresholds/2026",
        json={"amount": {"amount": "2100.00", "currency": "USD"}},
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    assert earn(client, tenant, "e-1")["state"] == "ready"


def test_backup_withholding_policy_pays_and_flags(
    client: TestClient, tenant: Tenant, outbox: Outbox, database: Database
) -> None:
    settings(client, tenant, missing_tin_policy="backup_withholding")
    fixed_program(client, tenant, amount="1500.00")
    assert earn(client, tenant, "e-1")["state"] == "ready"
    second = earn(client, tenant, "e-2")
    assert second["state"] == "ready"
    record = _record(client, tenant, second)
    assert record["backup_withholding"] is True
    assert record["withholding"] == {"amount": "360.00", "currency": "USD"}
    first = record_of(database, outbox.notices[0].learner_id)  # a learner id is no source
    assert first is None
    # The request went out with the first reward ($1,500 reaches the $500 request amount).
    assert [n.form for n in outbox.notices] == ["W-9"]


def test_non_us_customer_is_a_foreign_person_and_gives_a_w8ben(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    fixed_program(client, tenant, amount="2500.00")
    reward = earn(client, tenant, "e-1", country="DE", locale="de-DE", learner="D1")
    assert reasons(reward) == ["tax_form_required"]
    assert outbox.notices[0].form == "W-8BEN"
    assert outbox.notices[0].locale == "de-DE"
    done = client.post(f"/tax/forms/{outbox.token()}", data=W8BEN)
    assert done.status_code == 200, done.text
    assert reward_state(client, tenant, reward["id"])["state"] == "ready"
    record = _record(client, tenant, reward)
    assert (record["treatment"], record["form_type"], record["reports_1042s"]) == (
        "foreign_person",
        "1042-S",
        True,
    )


def test_program_setting_makes_customer_rewards_pay_for_services(
    client: TestClient, tenant: Tenant
) -> None:
    program = fixed_program(client, tenant, amount="10.00")
    settings(client, tenant, program_income={program["id"]: "services"})
    record = _record(client, tenant, earn(client, tenant, "e-1"))
    assert (record["form_type"], record["box"]) == ("1099-NEC", "1")


def test_classification_is_the_learners_not_the_courses(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="10.00")
    one = _record(client, tenant, earn(client, tenant, "e-1", course="SALES-1"))
    two = _record(client, tenant, earn(client, tenant, "e-2", course="PARTNER-CERT"))
    assert one["form_type"] == two["form_type"] == "1099-MISC"


def test_no_rate_for_the_currency_holds_when_the_amount_matters(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="25.00", currency="EUR")
    reward = earn(client, tenant, "e-1")
    assert reasons(reward) == ["fx_rate_unavailable"]
    # Wages do not depend on the amount: passed, USD left to the delivery date's rate.
    wages = earn(client, tenant, "e-2", classification="employee", learner="E1")
    assert wages["state"] == "ready"
    record = record_of(database, wages["id"])
    assert record is not None
    assert (record.usd_minor, record.rate, record.form_type) == (0, "", "W-2")


def test_a_second_tin_notice_makes_the_tin_count_as_missing(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    fixed_program(client, tenant, amount="25.00")
    first = earn(client, tenant, "e-1", classification="contractor")
    client.post(f"/tax/forms/{outbox.token()}", data=W9)
    assert reward_state(client, tenant, first["id"])["state"] == "ready"
    learner_id = outbox.notices[0].learner_id
    marked = client.put(
        f"/api/v1/tax/learners/{learner_id}/form/second-tin-notice",
        json={"notified": True},
        headers=tenant.headers,
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["second_tin_notice"] is True
    second = earn(client, tenant, "e-2", classification="contractor")
    assert reasons(second) == ["tax_form_required"]
    assert len(outbox.notices) == 2
    # A new form clears it and releases the reward.
    assert client.post(f"/tax/forms/{outbox.token()}", data=W9).status_code == 200
    assert reward_state(client, tenant, second["id"])["state"] == "ready"


def test_points_pass_without_a_record_until_redeemed(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    created = client.post(
        "/api/v1/programs",
        json={"key": "points", "template": "gamification_points"},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    reward = earn(client, tenant, "e-1", classification="contractor")
    assert reward["amount"]["currency"] == "PTS"
    assert reward["state"] == "ready"
    assert record_of(database, reward["id"]) is None
