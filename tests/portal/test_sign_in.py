"""Learner sign-in by emailed link: same answer for everyone, a single-use short-lived link in
the learner's language (read from a real SMTP server), a session cookie with CSRF."""

from __future__ import annotations

import re
import time
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.db import Database
from laurel.learners.models import Learner
from laurel.organizations.models import Organization
from laurel.portal import pages
from laurel.portal.models import LearnerSession, LearnerSignInLink
from tests.conftest import Tenant
from tests.notifications.support import SmtpServer
from tests.points.support import add_learner

LINK = re.compile(r"https://rewards\.acme\.test/portal/link/([\w-]+)")


def _hidden(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


def _ana(database: Database, tenant: Tenant) -> uuid.UUID:
    with database.session() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == tenant.id)
            .values(brand={"name": "Acme Learning", "primary_color": "#aa0033"})
        )
        ana = add_learner(session, tenant, "A1", name="Ana Díaz", country="MX")
        session.execute(update(Learner).where(Learner.id == ana).values(locale="es-MX"))
    return ana


def ask(client: TestClient, email: str, slug: str = "acme") -> str:
    form = client.get(f"/portal/{slug}/sign-in")
    assert form.status_code == 200
    answer = client.post(
        f"/portal/{slug}/sign-in", data={"email": email, "csrf_token": _hidden(form.text)}
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def mailed_link(client: TestClient, smtp: SmtpServer) -> str:
    client.app.state.worker.run_outbox_once()  # type: ignore[attr-defined]
    found = LINK.search(smtp.mailbox.received[-1].text)
    assert found, smtp.mailbox.received[-1].text
    return found.group(1)


def open_link(client: TestClient, token: str) -> tuple[int, str]:
    page = client.get(f"/portal/link/{token}")
    if page.status_code != 200:
        return page.status_code, page.text
    done = client.post(
        f"/portal/link/{token}",
        data={"csrf_token": _hidden(page.text)},
        follow_redirects=False,
    )
    return done.status_code, done.headers.get("location", done.text)


def test_sign_in_by_emailed_link(
    portal: TestClient, tenant: Tenant, database: Database, smtp: SmtpServer
) -> None:
    ana = _ana(database, tenant)
    page = portal.get("/portal/acme/sign-in", headers={"Accept-Language": "fr"})
    assert "Acme Learning" in page.text
    assert "#aa0033" in page.text
    assert page.headers["content-language"] == "fr"
    form_cookie = page.headers["set-cookie"]
    assert "HttpOnly" in form_cookie
    assert "SameSite=strict" in form_cookie

    # Unknown and known addresses get the same answer (the token in the form aside).
    def same(html: str) -> str:
        return re.sub(r'value="[^"]*"', "", html)

    unknown = ask(portal, "nobody@example.com")
    known = ask(portal, "A1@Example.com")
    assert same(unknown) == same(known)
    assert "sign-in link is on its way" in known
    assert ask(portal, "a1@example.com", slug="no-such-org")  # an unknown organization too

    token = mailed_link(portal, smtp)
    (mail,) = smtp.mailbox.received  # nothing for the unknown address or organization
    assert mail.rcpt_tos == ["a1@example.com"]
    assert mail.message["Content-Language"] == "es"  # the learner's language, not the browser's
    assert mail.message["Subject"] == "Tu enlace para iniciar sesión en Acme Learning"
    assert "Hola, Ana Díaz" in mail.text
    with database.read_session() as session:
        stored = session.scalars(select(LearnerSignInLink.token_hash)).all()
    assert token not in stored
    assert len(stored) == 1

    # Opening the link shows a button (mail scanners that fetch links cannot use it up).
    status, where = open_link(portal, token)
    assert (status, where) == (303, "/points/wallet")
    cookies = portal.cookies
    assert cookies.get("laurel_learner")
    assert cookies.get("laurel_learner_csrf")
    wallet = portal.get("/points/wallet")
    assert wallet.status_code == 200
    assert "Monedero" in wallet.text
    with database.read_session() as session:
        (row,) = session.scalars(select(LearnerSession)).all()
        assert (row.learner_id, row.method) == (ana, "email_link")

    # Single use: a second visit is refused.
    status, text = open_link(portal, token)
    assert status == 400
    assert "desconocido" in text or "unknown" in text

    # Sign out needs the session's CSRF token, then the session is over.
    refused = portal.post("/portal/sign-out", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    csrf = _hidden(wallet.text)
    out = portal.post("/portal/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/portal/acme/sign-in")
    portal.cookies.set("laurel_learner", row_token := "not-a-session")
    assert row_token
    assert portal.get("/points/wallet").status_code == 401


def test_session_cookie_is_secure_httponly_samesite(
    portal: TestClient, tenant: Tenant, database: Database, smtp: SmtpServer
) -> None:
    _ana(database, tenant)
    ask(portal, "a1@example.com")
    token = mailed_link(portal, smtp)
    page = portal.get(f"/portal/link/{token}")
    done = portal.post(
        f"/portal/link/{token}", data={"csrf_token": _hidden(page.text)}, follow_redirects=False
    )
    cookies = {c.split("=", 1)[0]: c for c in done.headers.get_list("set-cookie")}
    session = cookies["laurel_learner"]
    assert "HttpOnly" in session
    assert "Secure" in session
    assert "SameSite=lax" in session
    csrf = cookies["laurel_learner_csrf"]
    assert "HttpOnly" in csrf
    assert "Secure" in csrf
    assert "SameSite=strict" in csrf


def test_link_expires_and_a_wrong_form_token_is_refused(
    portal: TestClient, tenant: Tenant, database: Database, smtp: SmtpServer
) -> None:
    _ana(database, tenant)
    form = portal.get("/portal/acme/sign-in")
    forged = portal.post(
        "/portal/acme/sign-in", data={"email": "a1@example.com", "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    assert _hidden(form.text) != "forged"
    ask(portal, "a1@example.com")
    token = mailed_link(portal, smtp)
    page = portal.get(f"/portal/link/{token}")
    bad = portal.post(f"/portal/link/{token}", data={"csrf_token": "forged"})
    assert bad.status_code == 200  # the button again: nothing was spent
    assert not portal.cookies.get("laurel_learner")
    with database.session() as session:
        session.execute(update(LearnerSignInLink).values(expires_at=LearnerSignInLink.created_at))
    status, _ = open_link(portal, token)
    assert status == 400
    assert _hidden(page.text)


def test_requests_are_rate_limited(
    portal: TestClient, tenant: Tenant, database: Database, smtp: SmtpServer
) -> None:
    _ana(database, tenant)
    for _ in range(7):
        ask(portal, "a1@example.com")
    portal.app.state.worker.run_outbox_once()  # type: ignore[attr-defined]
    assert len(smtp.mailbox.received) == 5  # learner_links_per_hour; the answers did not change
    # Per client address: after ten requests in ten minutes, 429 (whatever the email).
    for _ in range(3):
        ask(portal, "someone@example.com")
    form = portal.get("/portal/acme/sign-in")
    limited = portal.post(
        "/portal/acme/sign-in",
        data={"email": "nobody@example.com", "csrf_token": _hidden(form.text)},
    )
    assert limited.status_code == 429
    pages.THROTTLE = pages.Throttle()
    time.sleep(0)
