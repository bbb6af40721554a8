"""The form page in a real browser (Debian's Chromium through Playwright) against a real
server on loopback: a learner fills in a W-9 in Spanish, fixes a wrong SSN, and the reward
held for the form is released."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.tax.support import Outbox, earn, reward_state

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture
def live_url(settings: Settings, database: Database, providers: ProviderRegistry) -> Iterator[str]:
    app = create_app(settings, database, providers=providers)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_learner_fills_in_a_w9_in_a_browser(
    client: TestClient, tenant: Tenant, outbox: Outbox, live_url: str
) -> None:
    fixed_program(client, tenant, amount="25.00")
    reward = earn(client, tenant, "e-1", classification="contractor", locale="es-MX")
    assert reward["state"] == "held"
    url = f"{live_url}/tax/forms/{outbox.token()}"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url)
            assert page.locator("h1").inner_text().startswith("Formulario W-9")
            page.fill("#first_name", "Ana")
            page.fill("#last_name", "Díaz")
            page.fill("#tin", "12345678")
            page.fill("#address", "12 Elm St")
            page.fill("#city", "Austin")
            page.fill("#state", "TX")
            page.fill("#postal_code", "78701")
            page.fill("#signed_name", "Ana Díaz")
            page.check("#certify")
            page.click("button[type=submit]")
            error = page.locator("#tin-error")
            assert error.inner_text() == "Un SSN tiene 9 dígitos; este tiene 8."
            assert page.get_attribute("#tin", "aria-invalid") == "true"
            assert page.input_value("#tin") == ""  # never sent back to the page
            assert page.input_value("#city") == "Austin"
            page.fill("#tin", "123-45-6780")
            page.check("#certify")
            page.click("button[type=submit]")
            assert page.locator("h1").inner_text() == "Gracias. Hemos recibido su formulario."
        finally:
            browser.close()
    assert reward_state(client, tenant, reward["id"])["state"] == "ready"
