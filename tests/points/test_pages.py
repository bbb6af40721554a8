"""Learner pages: translated, white-labelled, and working in a real browser (Debian Chromium)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import update

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.learners.models import Learner
from laurel.organizations.models import Organization
from laurel.points import i18n, ledger
from laurel.points.models import TransactionKind
from tests.conftest import Tenant
from tests.points.support import add_learner, add_program, scope
from tests.portal.support import session_for, sign_in

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def ana(database: Database, tenant: Tenant) -> uuid.UUID:
    """A learner in Mexico (Spanish) with 1,250 points, and a colleague in Germany."""
    with database.session() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == tenant.id)
            .values(brand={"name": "Acme Learning", "primary_color": "#aa0033"})
        )
        ana = add_learner(session, tenant, "A1", name="Ana Díaz", country="MX")
        session.execute(update(Learner).where(Learner.id == ana).values(locale="es-MX"))
        bo = add_learner(session, tenant, "B1", name="Bo Schmidt", country="DE")
        program = add_program(session, tenant)
        for who, points in ((ana, 1250), (bo, 2000)):
            ledger.post(
                session,
                scope(tenant),
                key=f"seed:{who}",
                kind=TransactionKind.earn,
                legs=[(ledger.liability(program), -points), (ledger.wallet(who), points)],
                actor="test",
                program_id=program,
                memo="Security Awareness",
                occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
                expires_at=datetime(2027, 1, 15, tzinfo=UTC),
            )
    return ana


def test_languages_are_negotiated_and_fall_back_to_english() -> None:
    assert i18n.negotiate(None, "es-MX") == "es"
    assert i18n.negotiate("pt-BR") == "pt_BR"
    assert i18n.negotiate(None, None, "ja,en;q=0.5") == "ja"
    assert i18n.negotiate("xx", "tlh") == "en"
    assert i18n.catalog("de").gettext("Leaderboard") == "Bestenliste"
    assert i18n.catalog("de").gettext("not a message") == "not a message"
    for language in i18n.LANGUAGES[1:]:
        # Every catalog translates every message the English one has.
        english = i18n.catalog("en").messages
        assert set(i18n.catalog(language).messages) >= set(english), language


def test_pages_speak_the_learners_language(
    client: TestClient, tenant: Tenant, ana: uuid.UUID, database: Database
) -> None:
    sign_in(client, database, ana)
    page = client.get("/points/wallet")
    assert page.status_code == 200
    assert page.headers["content-language"] == "es"
    assert "Tu saldo" in page.text
    assert "1250" in page.text.replace("\u202f", "").replace(".", "").replace(",", "")
    assert "Acme Learning" in page.text
    assert "#aa0033" in page.text
    french = client.get("/points/history?lang=fr")
    assert "Historique" in french.text
    assert "Gagnés" in french.text
    japanese = client.get("/points/leaderboard?lang=ja&period=2026")
    assert "ランキング" in japanese.text
    assert "B. S." in japanese.text  # Germany: initials by default
    assert "Ana Díaz" in japanese.text  # Mexico: the name
    client.cookies.clear()
    assert client.get("/points/wallet").status_code == 401
    # An API key is not a learner: the learner's pages are theirs alone.
    assert client.get("/points/wallet", headers=tenant.headers).status_code == 403
    # A browser without a session is sent to sign in.
    browser = client.get("/points/wallet", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (browser.status_code, browser.headers["location"]) == (303, "/portal/sign-in")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(settings: Settings, database: Database) -> Iterator[str]:
    port = _free_port()
    app = create_app(settings, database)
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=20)


def test_pages_in_chromium(server: str, tenant: Tenant, ana: uuid.UUID, database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("the pages read the same services on both databases; one browser run is enough")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context()
            signed = session_for(database, ana)
            context.add_cookies(
                [{"name": k, "value": v, "url": server} for k, v in signed.cookies.items()]
            )
            page = context.new_page()
            page.goto(f"{server}/points/wallet")
            assert page.locator("h1").inner_text() == "Monedero"
            balance = page.get_by_test_id("balance")
            assert balance.evaluate("e => getComputedStyle(e).color") == "rgb(170, 0, 51)"
            assert "15 ene 2027" in page.content()
            page.get_by_role("link", name="Clasificación").click()
            page.wait_for_url("**/points/leaderboard**")
            assert page.locator("h1").inner_text() == "Clasificación"
            rows = page.locator("tbody tr").all_inner_texts()
            assert rows[0].split("\t")[1] == "B. S."
            assert "Ana Díaz (Tú)" in rows[1]
        finally:
            browser.close()
