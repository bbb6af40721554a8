"""The dashboard in a real browser (Playwright driving Debian's Chromium) over real HTTP:
each role signs in and sees its pages, a manager is refused another department's learner by
URL, finance approves a held reward, compliance clears a screening case, an export downloads,
and the overview numbers refresh through htmx without a reload. Screenshots are kept under
``test-artifacts/dashboard/`` (ignored by git)."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from laurel.app import create_app
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from tests.auth.support import PASSWORD, make_user
from tests.conftest import Tenant
from tests.dashboard.support import Seeded, earn, seed

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser for the module; each test opens its own contexts (cookie jars)."""
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def served(database: Database, providers: ProviderRegistry) -> Iterator[tuple[str, Any]]:
    # Development: cookies without Secure, as the pages are served over plain HTTP here.
    settings = Settings(database_url=database.url, environment=Environment.development)
    app = create_app(settings, database, providers=providers)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def world(
    served: tuple[str, Any], tenant: Tenant, database: Database, tmp_path: Path
) -> tuple[str, Seeded, TestClient]:
    base, app = served
    api = TestClient(app)
    return base, seed(api, tenant, database, tmp_path), api


def sign_in(chromium: Any, base: str, email: str, target: str = "/dashboard") -> Any:
    page = chromium.new_context().new_page()
    page.goto(f"{base}{target}")
    page.wait_for_url(f"{base}/sign-in?**")  # a browser without a session is sent to sign in
    page.fill("#organization", "acme")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page: Any, request: pytest.FixtureRequest, name: str) -> None:
    folder = ARTIFACTS / request.node.name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def status_of(page: Any, url: str) -> int:
    response = page.goto(url)
    assert response is not None
    status: int = response.status
    return status


def nav_links(page: Any) -> list[str]:
    links: list[str] = page.eval_on_selector_all(
        "nav[aria-label=Dashboard] a", "els => els.map(e => e.getAttribute('href'))"
    )
    return links


def test_each_role_sees_its_pages_and_a_manager_stays_in_department(
    chromium: Any,
    world: tuple[str, Seeded, TestClient],
    tenant: Tenant,
    request: pytest.FixtureRequest,
) -> None:
    base, seeded, api = world
    expected = {
        "ld@acme.test": ["overview", "rewards", "held", "programs", "team"],
        "finance@acme.test": ["overview", "rewards", "held", "finance", "programs", "team"],
        "compliance@acme.test": ["overview", "rewards", "held", "compliance", "programs", "team"],
        "manager@acme.test": ["overview", "rewards", "team"],
        "learner@acme.test": ["rewards", "me"],
    }
    for email, links in expected.items():
        page = sign_in(chromium, base, email)
        # /dashboard lands on the first page the role may see.
        page.wait_for_url(f"{base}/dashboard/{links[0]}")
        assert nav_links(page) == [f"/dashboard/{x}" for x in links]
        shot(page, request, email.split("@")[0])
        if email == "ld@acme.test":
            # The chart is drawn, and the numbers fragment refreshes in place (no reload): the
            # poll is every 10 s, so the test asks htmx for the same request at once.
            assert page.get_attribute("#numbers", "hx-trigger") == "every 10s"
            page.wait_for_selector("canvas#trend[data-ready='1']")
            assert page.inner_text("[data-testid=completions]") == "3"
            page.evaluate("window.marker = 'same page'")
            earn(api, tenant, "e-5", learner="E5", name="Ed Fox", department="Sales")
            page.evaluate("htmx.ajax('GET', '/dashboard/overview/numbers', '#numbers')")
            page.wait_for_function(
                "document.querySelector('[data-testid=completions]').textContent === '4'"
            )
            assert page.evaluate("window.marker") == "same page"
            page.select_option("select[name=by]", "department")
            page.wait_for_selector("#rates td:text('Sales')")
            shot(page, request, "overview-live")
        if email == "manager@acme.test":
            page.goto(f"{base}/dashboard/team")
            assert "Ana Díaz" in page.inner_text("main")
            assert "Bo Chen" not in page.inner_text("main")
            assert status_of(page, f"{base}/dashboard/team/{seeded.eng_learner}") == 404
            assert status_of(page, f"{base}/dashboard/rewards/{seeded.eng_reward}") == 404
            assert status_of(page, f"{base}/dashboard/finance") == 403
        if email == "learner@acme.test":
            page.goto(f"{base}/dashboard/me")
            assert page.inner_text("main").count("200.00 USD") == 1
            shot(page, request, "learner-me")
        page.context.close()


def test_approve_clear_and_export_through_the_pages(
    chromium: Any,
    world: tuple[str, Seeded, TestClient],
    tenant: Tenant,
    request: pytest.FixtureRequest,
) -> None:
    base, seeded, api = world

    finance = sign_in(chromium, base, "finance@acme.test", "/dashboard/finance")
    finance.wait_for_url(f"{base}/dashboard/finance")
    form = finance.locator(f"form[action='/dashboard/rewards/{seeded.sales_reward}/approve']")
    form.locator("input[name=reason]").fill("within the training budget")
    form.locator("button[type=submit]").click()
    finance.wait_for_url(f"{base}/dashboard/finance")
    assert finance.locator(f"a[href='/dashboard/rewards/{seeded.sales_reward}']").count() == 0
    state = api.get(f"/api/v1/rewards/{seeded.sales_reward}", headers=tenant.headers).json()
    assert state["state"] == "ready"
    shot(finance, request, "finance-after-approve")

    finance.goto(f"{base}/dashboard/finance?period=year")
    with finance.expect_download() as download_info:
        finance.click("#spend-csv")
    download = download_info.value
    assert download.suggested_filename == "spend-by-year.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert [(r["currency"], r["spend"], r["rewards"]) for r in rows] == [("USD", "600.00", "3")]
    finance.goto(f"{base}/dashboard/rewards/{seeded.sales_reward}")
    assert "within the training budget" in finance.inner_text("ol.timeline")
    finance.context.close()

    compliance = sign_in(chromium, base, "compliance@acme.test", "/dashboard/compliance")
    compliance.wait_for_url(f"{base}/dashboard/compliance")
    row = compliance.locator(f"tr[data-case='{seeded.case_id}']")
    row.locator("form[action$='/clear'] input[name=reason]").fill("different date of birth")
    row.locator("form[action$='/clear'] button").click()
    compliance.wait_for_url(f"{base}/dashboard/compliance")
    assert compliance.locator(f"tr[data-case='{seeded.case_id}']").count() == 0
    compliance.click("text=Verify the audit chain")
    compliance.wait_for_selector("#verify .ok")
    assert "The audit chain holds" in compliance.inner_text("#verify")
    shot(compliance, request, "compliance-after-clear")
    compliance.context.close()


def test_a_program_is_made_refused_fixed_previewed_and_budgeted_in_the_browser(
    chromium: Any,
    world: tuple[str, Seeded, TestClient],
    tenant: Tenant,
    request: pytest.FixtureRequest,
) -> None:
    base, _, api = world
    course = api.post(
        "/api/v1/courses",
        headers=tenant.headers,
        json={"external_id": "CRT-300", "title": "Admin Certification", "type": "certification"},
    )
    assert course.status_code == 201, course.text
    page = sign_in(chromium, base, "ld@acme.test", "/dashboard/programs")
    page.wait_for_url(f"{base}/dashboard/programs")
    page.click("#new-program")
    page.fill("#f-key", "Certs 2026")
    page.select_option("#f-template", "product_certification")
    page.fill("#f-approval_threshold", "100.001")
    page.fill("#f-eligibility-countries", "US, Deutschland")
    page.fill("#f-budget", "500.00")
    page.click("text=Create program")
    # Each refusal beside its field; everything typed is still there.
    assert "lowercase letters" in page.inner_text("[data-field=key] .field-error")
    assert "decimal places" in page.inner_text("[data-field=approval_threshold] .field-error")
    assert page.inner_text("[data-field='eligibility.countries'] .field-error").startswith(
        "item 2:"
    )
    assert page.input_value("#f-eligibility-countries") == "US, Deutschland"
    assert page.input_value("#f-budget") == "500.00"
    shot(page, request, "program-refused")
    page.fill("#f-key", "certs-2026")
    page.fill("#f-approval_threshold", "50.00")
    page.fill("#f-eligibility-countries", "US, DE")
    page.click("text=Create program")
    page.wait_for_url(f"{base}/dashboard/programs/*")
    assert "Product certification" in page.inner_text("h1")
    page.wait_for_selector("canvas.burn-down[data-ready='1']")
    # The preview: the real decision and gates, undone.
    page.fill("#preview-form input[name=learner]", "E2")
    page.select_option("#preview-form select[name=course]", "CRT-300")
    page.wait_for_selector("[data-testid=amount]")
    text = page.inner_text("[data-testid=preview]")
    assert "through instant delivery by sandbox" in text
    assert "approval_required" in page.inner_text("[data-testid=holds]")
    shot(page, request, "program-preview")
    page.click("#add-rule")
    page.fill("#f-name", "leaders")
    page.check("input[name='value.kind'][value=fixed]")
    page.fill("#f-value-amount", "30")
    page.click("text=Add the rule")
    page.wait_for_url(f"{base}/dashboard/programs/*")
    assert page.locator("a:text('leaders')").count() == 1
    shot(page, request, "program-with-rule")
    page.context.close()


def test_an_admin_invites_a_user_and_manages_keys_in_the_browser(
    chromium: Any,
    world: tuple[str, Seeded, TestClient],
    tenant: Tenant,
    database: Database,
    request: pytest.FixtureRequest,
) -> None:
    base, _, api = world
    make_user(database, tenant.id, "admin@acme.test", ["org_admin"])
    page = sign_in(chromium, base, "admin@acme.test", "/dashboard/users")
    page.wait_for_url(f"{base}/dashboard/users")
    assert {"/dashboard/users", "/dashboard/api-keys"} <= set(nav_links(page))
    form = page.locator("#invite-form")
    form.locator("#f-email").fill("new@acme.test")
    form.locator("input[name=roles][value=department_manager]").check()
    form.locator("button[type=submit]").click()
    assert "needs at least one department" in page.inner_text(
        "#invite-form [data-field=departments] .field-error"
    )
    assert page.locator("#invite-form #f-email").input_value() == "new@acme.test"
    page.locator("#invite-form #f-departments").fill("Sales")
    page.locator("#invite-form button[type=submit]").click()
    page.wait_for_selector("[data-testid=notice]")
    assert "new@acme.test" in page.inner_text("[data-testid=notice]")
    row = page.locator("tr[data-user='finance@acme.test']")
    row.locator("text=Deactivate").click()
    page.wait_for_url(f"{base}/dashboard/users")
    assert "deactivated" in page.locator("tr[data-user='finance@acme.test']").inner_text()
    shot(page, request, "users")
    page.goto(f"{base}/dashboard/api-keys")
    page.fill("#f-name", "moodle")
    page.check("input[name=scopes][value='events:write']")
    page.click("text=Create the key")
    secret = page.inner_text("#secret")
    assert secret.startswith("lrl_live_")
    shot(page, request, "api-key-created")
    answer = api.get("/api/v1/rewards", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 403  # an events:write key reads nothing
    page.goto(f"{base}/dashboard/api-keys")
    assert secret not in page.content()
    key_row = page.locator(f"tr[data-key='{secret[:13]}']")
    key_row.locator("text=Revoke").click()
    page.wait_for_url(f"{base}/dashboard/api-keys")
    assert "revoked" in page.locator(f"tr[data-key='{secret[:13]}']").inner_text()
    page.context.close()
