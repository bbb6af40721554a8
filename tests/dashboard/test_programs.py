"""Program pages over HTTP with signed-in users: create and edit through forms (versioned as the
API does it), every bad field refused beside its input with what was typed kept, rules,
routing, budgets with their burn-down, and the preview (a dry run that keeps nothing)."""

from __future__ import annotations

import html as html_
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from tests.auth.support import Browser
from tests.conftest import Tenant
from tests.dashboard.support import Seeded, seed
from tests.factories import table_counts


@pytest.fixture
def app(settings: Settings, database: Database, providers: ProviderRegistry) -> FastAPI:
    return create_app(settings, database, providers=providers)


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def seeded(api: TestClient, tenant: Tenant, database: Database, tmp_path: Path) -> Seeded:
    return seed(api, tenant, database, tmp_path)


def signed_in(app: FastAPI, email: str) -> Browser:
    browser = Browser(app)
    browser.sign_in("acme", email)
    return browser


def field_error(html: str, name: str) -> str:
    """The message shown inside the block of the field ``name`` (empty: none)."""
    block = re.search(rf'data-field="{re.escape(name)}">(.*?)</(?:div|fieldset)>', html, flags=re.S)
    assert block is not None, f"no field {name}"
    found = re.search(r'class="field-error"[^>]*>(.*?)</span>', block.group(1), flags=re.S)
    return html_.unescape(found.group(1)) if found else ""


def shown(html: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" type="[^"]+" value="([^"]*)"', html)
    assert found is not None, f"no input {name}"
    return html_.unescape(found.group(1))


def post(browser: Browser, path: str, data: dict[str, Any]) -> Any:
    return browser.client.post(
        path, data={**data, "csrf_token": browser.csrf}, follow_redirects=False
    )


def program_id_of(location: str) -> str:
    found = re.fullmatch(r"/dashboard/programs/([0-9a-f-]{36})", location)
    assert found is not None, location
    return found.group(1)


def test_bad_fields_are_named_beside_their_inputs_and_kept(
    app: FastAPI, database: Database, tenant: Tenant, seeded: Seeded
) -> None:
    ld = signed_in(app, "ld@acme.test")
    assert ld.client.get("/dashboard/programs/new").status_code == 200
    before = table_counts(database)
    answer = post(
        ld,
        "/dashboard/programs",
        {
            "key": "Bad Key",
            "name": "Certifications",
            "currency": "USD",
            "approval_threshold": "12.345",
            "holdout_bps": "9000",
            "eligibility.countries": "us, Germany",
            "eligibility.departments": "Sales, Support",
            "segment_factors.employee": "7",
        },
    )
    assert answer.status_code == 422
    html = answer.text
    assert "lowercase letters, digits" in field_error(html, "key")
    assert "USD has 2 decimal places" in field_error(html, "approval_threshold")
    assert "less than or equal to 5000" in field_error(html, "holdout_bps")
    assert field_error(html, "eligibility.countries").startswith("item 2: use ISO 3166-1")
    assert "less than or equal to 3.5" in field_error(html, "segment_factors.employee")
    assert field_error(html, "name") == ""
    # What was typed is shown again, the valid and the invalid alike.
    assert shown(html, "key") == "Bad Key"
    assert shown(html, "eligibility.departments") == "Sales, Support"
    assert shown(html, "approval_threshold") == "12.345"
    assert table_counts(database) == before
    # A rule of the service (not of the schema): the provider must be configured.
    refused = post(
        ld,
        "/dashboard/programs",
        {"key": "certs", "name": "Certs", "currency": "USD", "provider": "nowhere"},
    )
    assert refused.status_code == 422
    assert "no provider 'nowhere'" in field_error(refused.text, "provider")
    # A key that exists: beside the key.
    taken = post(ld, "/dashboard/programs", {"key": "compliance", "currency": "USD", "name": "X"})
    assert taken.status_code == 409
    assert "already exists" in field_error(taken.text, "key")


def test_create_from_a_template_then_change_it_from_a_later_time(
    app: FastAPI, api: TestClient, database: Database, tenant: Tenant, seeded: Seeded
) -> None:
    ld = signed_in(app, "ld@acme.test")
    made = post(
        ld,
        "/dashboard/programs",
        {
            "key": "certs",
            "template": "product_certification",
            "currency": "USD",
            "active": "on",
            "budget": "1000.00",
            "eligibility.classifications": ["employee", "contractor"],
            "holdout_bps": "1000",
        },
    )
    assert made.status_code == 303, made.text
    program_id = program_id_of(made.headers["location"])
    via_api = api.get(f"/api/v1/programs/{program_id}", headers=tenant.headers).json()
    assert via_api["name"] == "Product certification"
    assert via_api["template"] == "product_certification"
    assert via_api["eligibility"]["classifications"] == ["employee", "contractor"]
    assert via_api["holdout_bps"] == 1000
    assert via_api["budget"]["limit"] == {"amount": "1000.00", "currency": "USD"}
    assert len(via_api["rules"]) == 1  # the template's four-factor rule

    page = ld.client.get(f"/dashboard/programs/{program_id}").text
    assert shown(page, "name") == "Product certification"
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "name": "Certifications 2027",
        "active": "on",
        "dedupe_period": "once",
        "delivery": "instant",
        "reward_kind": "gift_card",
        "provider": "sandbox",
        "approval_threshold": "400.00",
        "holdout_bps": "1000",
        "budget": "1000.00",
        "eligibility.classifications": ["employee", "contractor"],
        "effective_from": tomorrow,
    }
    changed = post(ld, f"/dashboard/programs/{program_id}", form)
    assert changed.status_code == 303, changed.text
    versions = api.get(f"/api/v1/programs/{program_id}/versions", headers=tenant.headers).json()
    assert [v["name"] for v in versions] == ["Product certification", "Certifications 2027"]
    assert versions[1]["effective_from"].startswith(tomorrow)
    assert versions[1]["approval_threshold"] == {"amount": "400.00", "currency": "USD"}
    # Until tomorrow the first version is in force; the page shows the change as scheduled.
    now = api.get(f"/api/v1/programs/{program_id}", headers=tenant.headers).json()
    assert now["version"] == 1
    page = ld.client.get(f"/dashboard/programs/{program_id}").text
    assert "(scheduled)" in page
    # The budget limit shown unchanged is not set again (no new audit entry for it).
    audit = api.get(
        "/api/v1/audit", headers=tenant.headers, params={"action": "budgets:budget:set"}
    ).json()
    assert audit == []
    # The past is refused beside its input, with the form as typed.
    past = post(
        ld, f"/dashboard/programs/{program_id}", form | {"effective_from": "2020-01-01T00:00"}
    )
    assert past.status_code == 422
    assert "cannot be in the past" in field_error(past.text, "effective_from")
    assert shown(past.text, "name") == "Certifications 2027"


def test_rules_are_added_and_changed_with_errors_beside_fields(
    app: FastAPI, api: TestClient, tenant: Tenant, seeded: Seeded
) -> None:
    ld = signed_in(app, "ld@acme.test")
    [program] = api.get("/api/v1/programs", headers=tenant.headers).json()
    base = f"/dashboard/programs/{program['id']}/rules"
    assert ld.client.get(f"{base}/new").status_code == 200
    rule = {
        "name": "leaders",
        "priority": "10",
        "enabled": "on",
        "conditions.course_types": ["leadership"],
        "conditions.outcomes": ["passed"],
        "conditions.min_score": "1.5",
        "conditions.tags": "management, executive",
        "value.kind": "four_factor",
        "value.base": "100.00",
        "value.cap": "300.00",
        "value.importance": "9",
    }
    bad = post(ld, base, rule)
    assert bad.status_code == 422
    assert "less than or equal to 1" in field_error(bad.text, "conditions.min_score")
    assert "less than or equal to 4.0" in field_error(bad.text, "value.importance")
    assert shown(bad.text, "conditions.tags") == "management, executive"
    fixed = {**rule, "conditions.min_score": "0.8", "value.importance": "2.5"}
    made = post(ld, base, fixed)
    assert made.status_code == 303, made.text
    rules = api.get(f"/api/v1/programs/{program['id']}/rules", headers=tenant.headers).json()
    [leaders] = [r for r in rules if r["name"] == "leaders"]
    assert leaders["priority"] == 10
    assert leaders["conditions"]["tags"] == ["management", "executive"]
    assert leaders["conditions"]["min_score"] == "0.8"
    assert leaders["value"]["importance"] == "2.5"
    assert leaders["value"]["cap"] == {"amount": "300.00", "currency": "USD"}
    # A fixed amount in a currency the program does not pay in cannot be typed (the page uses
    # the program's); a missing amount is named.
    edit = f"/dashboard/rules/{leaders['id']}"
    assert "v1" in ld.client.get(edit).text
    missing = post(ld, edit, {**fixed, "value.kind": "fixed", "value.amount": ""})
    assert missing.status_code == 422
    assert "Field required" in field_error(missing.text, "value.amount")
    changed = post(ld, edit, {**fixed, "value.kind": "fixed", "value.amount": "50.00"})
    assert changed.status_code == 303
    history = api.get(f"/api/v1/rules/{leaders['id']}/versions", headers=tenant.headers).json()
    assert [h["value"]["kind"] for h in history] == ["four_factor", "fixed"]


def test_routing_budget_burn_down_and_who_may_change(
    app: FastAPI, api: TestClient, tenant: Tenant, seeded: Seeded
) -> None:
    [program] = api.get("/api/v1/programs", headers=tenant.headers).json()
    path = f"/dashboard/programs/{program['id']}"
    budget = api.post(
        "/api/v1/budgets",
        headers=tenant.headers,
        json={"limit": {"amount": "5000.00", "currency": "USD"}, "program_id": program["id"]},
    )
    assert budget.status_code == 201, budget.text
    ld = signed_in(app, "ld@acme.test")
    refused = post(ld, f"{path}/routes", {"routes.gift_card": "sandbox, nowhere"})
    assert refused.status_code == 422
    message = field_error(refused.text, "routes.gift_card")
    assert "sandbox is for test mode only" in message or "no provider" in message
    page = ld.client.get(path).text
    [data] = re.findall(
        r'<script type="application/json" id="burn-[0-9a-f-]+-data">(.*?)</script>', page
    )
    line = json.loads(data)
    assert line["limit"] == 5000.0
    assert line["labels"][-1] == utcnow().date().isoformat()
    assert line["reserved"][-1] == 0
    assert line["spent"][-1] == 0
    # Auditors read the program but get no forms, and a post is refused by the table.
    auditor = signed_in(app, "auditor@acme.test")
    seen = auditor.client.get(path).text
    assert 'id="program-form"' not in seen
    assert "Add a rule" not in seen
    assert post(auditor, path, {"name": "x"}).status_code == 403
    assert auditor.client.get("/dashboard/programs/new").status_code == 403
    # A form without the session's CSRF token is refused.
    no_token = ld.client.post(path, data={"name": "x"}, follow_redirects=False)
    assert no_token.status_code == 403


def test_preview_is_a_dry_run_of_the_real_pipeline(
    app: FastAPI, api: TestClient, tenant: Tenant, database: Database, seeded: Seeded
) -> None:
    course = api.post(
        "/api/v1/courses",
        headers=tenant.headers,
        json={"external_id": "SEC-102", "title": "Security 2", "type": "compliance"},
    )
    assert course.status_code == 201, course.text
    [program] = api.get("/api/v1/programs", headers=tenant.headers).json()
    ld = signed_in(app, "ld@acme.test").client
    page = ld.get(f"/dashboard/programs/{program['id']}").text
    assert 'value="SEC-102"' in page
    assert '<option value="E2">' in page
    before = table_counts(database)
    answer = ld.get(
        "/dashboard/programs/preview",
        params={"program": program["id"], "learner": "E2", "course": "SEC-102"},
    ).text
    assert table_counts(database) == before
    assert '<strong data-testid="amount">200.00 USD</strong>' in answer
    assert "instant delivery by sandbox" in answer
    assert "approval_required" in answer
    assert "150.00" in answer
    # The course the learner was already paid for: intake would call it a duplicate.
    again = ld.get(
        "/dashboard/programs/preview",
        params={"program": program["id"], "learner": "e2@example.com", "course": "SEC-101"},
    ).text
    assert "duplicate" in again
    missing = ld.get(
        "/dashboard/programs/preview",
        params={"program": program["id"], "learner": "NOPE", "course": "SEC-101"},
    ).text
    assert "learner: no learner with external id or email &#39;NOPE&#39;" in missing
