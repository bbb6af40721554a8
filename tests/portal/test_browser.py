"""In Debian's Chromium: ask for a sign-in link, open it from the email (read from a real SMTP
server), see the wallet, redeem in the marketplace."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from laurel.app import create_app
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.learners.models import Learner
from laurel.organizations.models import Organization
from laurel.portal import pages
from tests.conftest import Tenant
from tests.notifications.support import HOST, SmtpServer
from tests.portal.test_marketplace import store

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture
def served(
    database: Database, providers: ProviderRegistry, smtp: SmtpServer
) -> Iterator[tuple[str, FastAPI]]:
    if not database.is_sqlite:
        pytest.skip("the pages read the same services on both databases; one browser run")
    pages.THROTTLE = pages.Throttle()
    settings = Settings(
        database_url=database.url,
        environment=Environment.development,  # plain http on loopback: cookies without Secure
        smtp_host=HOST,
        smtp_port=smtp.port,
        smtp_security="none",
        public_url="http://127.0.0.1:0",
    )
    app = create_app(settings, database, providers=providers)
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://{HOST}:{port}"
    app.state.settings.public_url = base  # the emailed link points at this server
    yield base, app
    server.should_exit = True
    thread.join(timeout=20)


def test_sign_in_see_the_wallet_and_redeem(
    served: tuple[str, FastAPI], tenant: Tenant, database: Database, smtp: SmtpServer
) -> None:
    base, app = served
    with TestClient(app) as admin:
        ana = store(admin, tenant, database)
    with database.session() as session:
        session.execute(update(Learner).where(Learner.id == ana).values(locale="fr-FR"))
        session.execute(
            update(Organization)
            .where(Organization.id == tenant.id)
            .values(brand={"name": "Acme Learning", "primary_color": "#aa0033"})
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context(locale="fr-FR").new_page()
            page.goto(f"{base}/points/wallet")
            page.wait_for_url("**/portal/sign-in")  # no session: sign in first
            page.goto(f"{base}/portal/acme/sign-in")
            assert "Acme Learning" in page.locator("header").inner_text()
            page.get_by_label("E-mail").fill("a1@example.com")
            page.get_by_role("button", name="M’envoyer un lien de connexion").click()
            page.get_by_test_id("sent").wait_for()

            app.state.worker.run_outbox_once()
            (mail,) = smtp.mailbox.received
            found = re.search(r"http://\S+/portal/link/[\w-]+", mail.text)
            assert found, mail.text
            page.goto(found.group(0))
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_url("**/points/wallet")
            assert page.locator("h1").inner_text() == "Portefeuille"
            assert (
                page.get_by_test_id("balance")
                .inner_text()
                .replace("\u202f", " ")
                .startswith("3 000")
            )

            page.get_by_role("link", name="Boutique").click()
            page.wait_for_url("**/points/marketplace")
            offers = page.get_by_test_id("offer")
            assert offers.count() == 1  # the German-only offer is not shown in the US
            offers.first.get_by_role("button", name="Échanger").click()
            page.wait_for_url("**/points/redemptions/**")
            assert page.get_by_test_id("state").get_attribute("data-state") == "pending"
            app.state.worker.run_once()
            page.reload()
            assert page.get_by_test_id("state").get_attribute("data-state") == "delivered"
            page.get_by_role("link", name="Portefeuille").click()
            assert page.get_by_test_id("balance").inner_text().startswith("500")
        finally:
            browser.close()
