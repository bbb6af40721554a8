"""Dashboard pages over HTTP with signed-in users (TestClient): what each role sees, the
live fragment, scoping by department, the approve/reject and clear forms, the exports."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.analytics.reports import period_of
from laurel.app import create_app
from laurel.config import Settings
from laurel.dashboard import queries
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.organizations.models import Organization
from laurel.rewards.models import Reward
from tests.auth.support import Browser, make_user
from tests.conftest import Tenant
from tests.dashboard.support import Seeded, earn, seed


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


def nav(html: str) -> list[str]:
    block = html.split('<nav aria-label="Dashboard">', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'href="(/dashboard/[a-z]+)"', block)


def reward_state(api: TestClient, tenant: Tenant, reward_id: str) -> str:
    state: str = api.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()["state"]
    return state


def test_without_a_session_browsers_are_sent_to_sign_in(app: FastAPI) -> None:
    client = TestClient(app, base_url="https://testserver")
    html = {"Accept": "text/html,application/xhtml+xml"}
    answer = client.get("/dashboard/overview?x=1", headers=html, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/dashboard/overview?x=1"
    # Scripts and other non-browser clients get the API's answer.
    assert client.get("/dashboard/overview").status_code == 401
    assert client.post(f"/dashboard/rewards/{uuid.uuid4()}/approve").status_code == 401


@pytest.mark.parametrize(
    ("email", "links"),
    [
        ("ld@acme.test", ["overview", "rewards", "held", "programs", "team"]),
        ("finance@acme.test", ["overview", "rewards", "held", "finance", "programs", "team"]),
        ("compliance@acme.test", ["overview", "rewards", "held", "compliance", "programs", "team"]),
        (
            "auditor@acme.test",
            ["overview", "rewards", "held", "finance", "compliance", "programs", "team"],
        ),
        ("manager@acme.test", ["overview", "rewards", "team"]),
        ("learner@acme.test", ["rewards", "me"]),
    ],
)
def test_each_role_sees_the_pages_the_table_grants(
    app: FastAPI, seeded: Seeded, email: str, links: list[str]
) -> None:
    browser = signed_in(app, email)
    first = browser.client.get("/dashboard")
    assert first.status_code == 200, first.text
    assert nav(first.text) == [f"/dashboard/{name}" for name in links]
    pages = ("overview", "rewards", "held", "finance", "compliance", "programs", "team", "me")
    for name in pages:
        answer = browser.client.get(f"/dashboard/{name}")
        # Every signed-in caller may open /dashboard/me (it shows only their own rewards).
        opens = name in links or name == "me"
        assert answer.status_code == (200 if opens else 403), (name, answer.text)


def test_numbers_fragment_follows_new_completions(
    app: FastAPI, api: TestClient, tenant: Tenant, seeded: Seeded
) -> None:
    browser = signed_in(app, "ld@acme.test")
    page = browser.client.get("/dashboard/overview")
    assert 'hx-get="/dashboard/overview/numbers" hx-trigger="every 10s"' in page.text
    before = browser.client.get("/dashboard/overview/numbers")
    assert before.status_code == 200
    assert '<div class="num" data-testid="completions">3</div>' in before.text
    assert "<html" not in before.text  # a fragment, not a page
    earn(api, tenant, "e-4", learner="E4", name="Cy Doe", department="Sales")
    after = browser.client.get("/dashboard/overview/numbers").text
    assert '<div class="num" data-testid="completions">4</div>' in after
    assert '<div class="num" data-testid="rewards">4</div>' in after
    series = re.search(r'<script type="application/json" id="series">(.*?)</script>', after)
    assert series is not None
    assert '"completions": [4]' in series.group(1)
    rates = browser.client.get("/dashboard/overview/rates?by=department").text
    assert "<td>Sales</td>" in rates
    assert browser.client.get("/dashboard/overview/rates?by=colour").status_code == 422


def test_a_manager_sees_only_their_departments(app: FastAPI, seeded: Seeded) -> None:
    manager = signed_in(app, "manager@acme.test").client
    team = manager.get("/dashboard/team").text
    assert "Ana Díaz" in team
    assert "Bo Chen" not in team
    rates = manager.get("/dashboard/team/rates").text
    assert "<td>Sales</td>" in rates
    assert "Engineering" not in rates
    assert manager.get(f"/dashboard/team/{seeded.sales_learner}").status_code == 200
    assert manager.get(f"/dashboard/team/{seeded.eng_learner}").status_code == 404
    assert manager.get(f"/dashboard/rewards/{seeded.sales_reward}").status_code == 200
    assert manager.get(f"/dashboard/rewards/{seeded.eng_reward}").status_code == 404
    listed = manager.get("/dashboard/rewards").text
    assert f'href="/dashboard/rewards/{seeded.sales_reward}"' in listed
    assert f'href="/dashboard/rewards/{seeded.eng_reward}"' not in listed
    # Filtering by an out-of-scope learner finds nothing rather than leaking.
    assert "No rewards." in manager.get("/dashboard/rewards?learner=E2").text


def test_learner_sees_own_rewards_white_labelled(
    app: FastAPI, database: Database, tenant: Tenant, seeded: Seeded
) -> None:
    with database.session() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == tenant.id)
            .values(brand={"name": "Acme Academy", "primary_color": "#7a0019"})
        )
    learner = signed_in(app, "learner@acme.test").client
    mine = learner.get("/dashboard/me").text
    assert "<title>My rewards · Acme Academy</title>" in mine
    assert "--brand:#7a0019" in mine
    assert mine.count("200.00 USD") == 1
    assert learner.get(f"/dashboard/rewards/{seeded.eng_reward}").status_code == 404
    # Someone who is not a learner sees no one's rewards there.
    other = signed_in(app, "finance@acme.test").client.get("/dashboard/me").text
    assert "No learner record is linked to your account." in other
    assert "200.00 USD" not in other


def test_finance_approves_from_the_queue(
    app: FastAPI, api: TestClient, tenant: Tenant, seeded: Seeded
) -> None:
    finance = signed_in(app, "finance@acme.test")
    queue = finance.client.get("/dashboard/finance").text
    assert f'action="/dashboard/rewards/{seeded.sales_reward}/approve"' in queue
    refused = finance.client.post(
        f"/dashboard/rewards/{seeded.sales_reward}/approve", data={"reason": "ok"}
    )
    assert refused.status_code == 403  # no CSRF token
    done = finance.client.post(
        f"/dashboard/rewards/{seeded.sales_reward}/approve",
        data={"reason": "budgeted", "back": "/dashboard/finance", "csrf_token": finance.csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/dashboard/finance"
    assert reward_state(api, tenant, seeded.sales_reward) == "ready"
    detail = finance.client.get(f"/dashboard/rewards/{seeded.sales_reward}").text
    assert "approvals:approval:approved" in detail
    assert "budgeted" in detail
    again = finance.client.post(
        f"/dashboard/rewards/{seeded.sales_reward}/reject",
        data={"reason": "late", "csrf_token": finance.csrf},
    )
    assert again.status_code == 409
    assert "is ready and not awaiting an approval" in again.text


def test_four_eyes_refusal_is_shown_on_the_page(
    app: FastAPI, api: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.id, "admin@acme.test", ["org_admin"])
    admin = signed_in(app, "admin@acme.test")
    program = admin.client.post(
        "/api/v1/programs",
        headers=admin.headers,
        json={
            "key": "big",
            "name": "Big",
            "currency": "USD",
            "approval_threshold": {"amount": "10.00", "currency": "USD"},
            "rules": [
                {
                    "name": "flat",
                    "conditions": {},
                    "value": {"kind": "fixed", "amount": {"amount": "50.00", "currency": "USD"}},
                }
            ],
        },
    )
    assert program.status_code == 201, program.text
    held = earn(api, tenant, "e-9", learner="E9", name="Di Eve", department="Sales")
    answer = admin.client.post(
        f"/dashboard/rewards/{held['id']}/approve",
        data={"reason": "mine", "csrf_token": admin.csrf},
    )
    assert answer.status_code == 403
    assert 'role="alert"' in answer.text
    assert "another approver must" in answer.text
    assert reward_state(api, tenant, held["id"]) == "held"


def test_held_rewards_grouped_by_reason(app: FastAPI, seeded: Seeded) -> None:
    held = signed_in(app, "compliance@acme.test").client.get("/dashboard/held").text
    assert "<h2>approval_required (2)</h2>" in held or "<h2>approval_required (3)</h2>" in held
    assert "<h2>screening_review (1)</h2>" in held
    assert 'href="/dashboard/compliance">screening queue' in held
    filtered = (
        signed_in(app, "ld@acme.test")
        .client.get("/dashboard/rewards?hold_reason=screening_review")
        .text
    )
    assert f'href="/dashboard/rewards/{seeded.screened_reward}"' in filtered
    assert f'href="/dashboard/rewards/{seeded.sales_reward}"' not in filtered


def test_compliance_clears_a_case_and_verifies_the_chain(
    app: FastAPI, api: TestClient, tenant: Tenant, seeded: Seeded
) -> None:
    compliance = signed_in(app, "compliance@acme.test")
    page = compliance.client.get("/dashboard/compliance").text
    assert f'data-case="{seeded.case_id}"' in page
    empty = compliance.client.post(
        f"/dashboard/compliance/cases/{seeded.case_id}/clear",
        data={"reason": " ", "csrf_token": compliance.csrf},
    )
    assert empty.status_code == 422
    assert "reason: a reviewer&#39;s decision needs a reason" in empty.text
    cleared = compliance.client.post(
        f"/dashboard/compliance/cases/{seeded.case_id}/clear",
        data={"reason": "different birth date", "csrf_token": compliance.csrf},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    after = compliance.client.get("/dashboard/compliance").text
    assert f'data-case="{seeded.case_id}"' not in after
    found = compliance.client.get(
        f"/dashboard/compliance?target_type=screening_case&target_id={seeded.case_id}"
    ).text
    assert "screening:case:cleared" in found
    verified = compliance.client.get("/dashboard/compliance/audit/verify").text
    assert "The audit chain holds" in verified
    unknown = compliance.client.post(
        f"/dashboard/compliance/cases/{uuid.uuid4()}/confirm",
        data={"reason": "x", "csrf_token": compliance.csrf},
    )
    assert unknown.status_code == 404
    # Screening was cleared; the reward moved on to the approval gate.
    assert reward_state(api, tenant, seeded.screened_reward) == "held"


def test_spend_export_csv_and_xlsx(
    app: FastAPI, api: TestClient, tenant: Tenant, seeded: Seeded
) -> None:
    finance = signed_in(app, "finance@acme.test")
    finance.client.post(
        f"/dashboard/rewards/{seeded.sales_reward}/approve",
        data={"reason": "ok", "csrf_token": finance.csrf},
    )
    answer = finance.client.get("/dashboard/finance/spend?period=year&format=csv")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="spend-by-year.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 1
    assert rows[0]["currency"] == "USD"
    # Held rewards count as committed spend until cancelled or failed: three of $200.
    assert rows[0]["spend"] == "600.00"
    assert rows[0]["rewards"] == "3"
    xlsx = finance.client.get("/dashboard/finance/spend?format=xlsx")
    assert xlsx.content[:2] == b"PK"
    manager = signed_in(app, "manager@acme.test").client
    assert manager.get("/dashboard/finance/spend").status_code == 403


def test_series_groups_by_period_like_the_reports(
    database: Database, tenant: Tenant, seeded: Seeded
) -> None:
    """Months are grouped by the database (SQLite strftime, PostgreSQL to_char) and folded
    into quarters and years: the same labels as ``analytics.reports.period_of``."""
    since = utcnow() - timedelta(days=400)
    with database.read_session() as session:
        created = list(session.scalars(select(Reward.created_at)))
        for period in ("month", "quarter", "year"):
            found = queries.series(session, tenant.actor, period=period, since=since)
            expected = Counter(period_of(c, period) for c in created)
            assert dict(zip(found["labels"], found["rewards"], strict=True)) == expected
            assert found["spend"] == {"USD": [60000] * len(expected)}
            assert found["exponents"] == {"USD": 2}
            assert sum(found["completions"]) == 3
