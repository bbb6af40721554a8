"""A learner in a real browser (Debian's Chromium): open the link, pick a reward, see it
redeemed, in Spanish."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from tests.conftest import Tenant
from tests.delivery.support import load_reward
from tests.links.server import serve
from tests.links.support import ledger_count, link_program, link_reward, sync_catalog

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package")


def test_a_learner_redeems_in_spanish_in_a_browser(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    tmp_path: Path,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)

    with (
        serve(create_app(settings, database, providers=providers)) as base,
        playwright.sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(locale="en-US")  # the learner's own es-MX wins
            page.goto(base + path)
            assert page.locator("h1").inner_text() == "¡Felicidades, Ana Díaz!"
            page.get_by_role("radio", name="Sandbox Books").check()
            page.get_by_role("button", name="Canjear mi recompensa").click()
            page.wait_for_url(base + path)
            assert page.locator("h1").inner_text() == "Tu recompensa ha sido canjeada"
            code = page.get_by_test_id("code").inner_text()
            assert code.startswith("SBX-")
            assert "Elegiste Sandbox Books." in page.content()
            page.screenshot(path=str(tmp_path / "redeemed.png"), full_page=True)
            page.reload()
            assert page.locator("h1").inner_text() == "Tu recompensa ha sido canjeada"
        finally:
            browser.close()

    assert load_reward(database, reward_id).state == "redeemed"
    assert ledger_count(database) == 1
