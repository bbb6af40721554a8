"""The sign-in page in a real browser (Playwright driving Debian's Chromium) over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from laurel.app import create_app
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from tests.auth.support import PASSWORD, make_user
from tests.conftest import Tenant

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture
def served(database: Database, providers: ProviderRegistry) -> Iterator[str]:
    # Development: cookies without Secure, as the page is served over plain HTTP here.
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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sign_in_and_out_in_a_browser(served: str, tenant: Tenant, database: Database) -> None:
    make_user(database, tenant.id, "web@acme.test", ["auditor"])
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{served}/sign-in?organization=acme&next=/api/v1/auth/me")
            page.fill("#email", "web@acme.test")
            page.fill("#password", "not it at all")
            page.click("button[type=submit]")
            assert "wrong organization, email or password" in page.inner_text("[role=alert]")

            page.fill("#email", "web@acme.test")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{served}/api/v1/auth/me")
            assert '"roles":["auditor"]' in page.content().replace(" ", "")
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["laurel_session"]["httpOnly"] is True
            assert cookies["laurel_session"]["sameSite"] == "Lax"
            # Scripts see the CSRF token, never the session token.
            assert page.evaluate("document.cookie").find("laurel_session") == -1
            assert "laurel_csrf=" in page.evaluate("document.cookie")
        finally:
            browser.close()
