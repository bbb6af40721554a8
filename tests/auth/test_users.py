"""Password sign-in: Argon2 hashes, secure session cookies, CSRF, rotation, lockout, reset."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.app import create_app
from laurel.auth.models import User, UserSession
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.notifications.models import OutboxEmail
from tests.auth.support import PASSWORD, Browser, make_user, plain_client
from tests.conftest import Tenant
from tests.notifications.support import HOST, Received, SmtpServer, smtp_server

SIGN_IN = "/api/v1/auth/sign-in"


def _set_cookies(response: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        found[name] = header.lower()
    return found


def test_password_is_argon2_and_session_cookie_is_secure(
    browser: Browser, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.id, "ana@acme.test", ["finance"])
    with database.sessionmaker() as session:
        stored = session.scalars(select(User.password_hash)).one()
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored

    response = browser.client.post(
        SIGN_IN, json={"organization": "acme", "email": "ANA@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    cookies = _set_cookies(response)
    session_cookie = cookies["laurel_session"]
    assert "httponly" in session_cookie
    assert "secure" in session_cookie
    assert "samesite=lax" in session_cookie
    assert "httponly" not in cookies["laurel_csrf"]  # the dashboard's scripts echo it
    token = browser.client.cookies["laurel_session"]
    with database.sessionmaker() as session:
        hashes = session.scalars(select(UserSession.token_hash)).all()
    assert token not in hashes
    assert len(hashes) == 1

    me = browser.client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["roles"] == ["finance"]
    assert me.json()["kind"] == "user"


def test_cookie_is_not_secure_in_development(
    database: Database, providers: ProviderRegistry, tenant: Tenant
) -> None:
    settings = Settings(database_url=database.url, environment=Environment.development)
    make_user(database, tenant.id, "dev@acme.test", ["auditor"])
    with plain_client(create_app(settings, database, providers=providers)) as client:
        response = client.post(
            SIGN_IN, json={"organization": "acme", "email": "dev@acme.test", "password": PASSWORD}
        )
        assert response.status_code == 200
        cookie = _set_cookies(response)["laurel_session"]
        assert "secure" not in cookie
        assert "httponly" in cookie
        assert client.get("/api/v1/auth/me").status_code == 200


def test_unsafe_cookie_requests_need_the_csrf_token(
    browser: Browser, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.id, "pm@acme.test", ["program_manager"])
    browser.sign_in("acme", "pm@acme.test")
    course = {"external_id": "SEC-1", "title": "Security"}
    missing = browser.client.post("/api/v1/courses", json=course)
    assert missing.status_code == 403
    assert "CSRF" in missing.json()["detail"]
    wrong = browser.client.post("/api/v1/courses", json=course, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert browser.client.get("/api/v1/courses").status_code == 200
    made = browser.client.post("/api/v1/courses", json=course, headers=browser.headers)
    assert made.status_code == 201, made.text


def test_sign_in_rotates_the_session_and_sign_out_ends_it(
    browser: Browser, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.id, "au@acme.test", ["auditor"])
    browser.sign_in("acme", "au@acme.test")
    first = browser.client.cookies["laurel_session"]
    browser.sign_in("acme", "au@acme.test")
    second = browser.client.cookies["laurel_session"]
    assert first != second
    # The session a browser held before signing in again is over, not promoted.
    stale = TestClient(browser.client.app, base_url="https://testserver")
    stale.cookies.set("laurel_session", first)
    assert stale.get("/api/v1/auth/me").status_code == 401

    assert browser.client.post("/api/v1/auth/sign-out").status_code == 403  # no CSRF token
    assert browser.client.post("/api/v1/auth/sign-out", headers=browser.headers).status_code == 204
    again = TestClient(browser.client.app, base_url="https://testserver")
    again.cookies.set("laurel_session", second)
    assert again.get("/api/v1/auth/me").status_code == 401


def test_wrong_password_and_unknown_user_are_the_same_answer(
    browser: Browser, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.id, "fi@acme.test", ["finance"])
    answers = [
        browser.client.post(SIGN_IN, json={"organization": org, "email": who, "password": pw})
        for org, who, pw in [
            ("acme", "fi@acme.test", "not the password"),
            ("acme", "nobody@acme.test", PASSWORD),
            ("no-such-org", "fi@acme.test", PASSWORD),
        ]
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.text for a in answers}) == 1
    assert "laurel_session" not in browser.client.cookies


@pytest.fixture
def strict_settings(database: Database) -> Settings:
    return Settings(
        database_url=database.url,
        environment=Environment.test,
        sign_in_max_failures=3,
        sign_in_lockout_minutes=10,
    )


def test_lockout_after_repeated_failures_then_unlocks(
    strict_settings: Settings, database: Database, providers: ProviderRegistry, tenant: Tenant
) -> None:
    make_user(database, tenant.id, "lo@acme.test", ["finance"])
    app = create_app(strict_settings, database, providers=providers)
    with plain_client(app, base_url="https://testserver") as client:

        def attempt(password: str) -> Any:
            body = {"organization": "acme", "email": "lo@acme.test", "password": password}
            return client.post(SIGN_IN, json=body)

        assert attempt("wrong one").status_code == 401
        assert attempt("wrong two").status_code == 401
        locked = attempt("wrong three")
        assert locked.status_code == 429
        detail = locked.json()["detail"]
        assert "locked" in detail["message"]
        assert detail["locked_until"][:10] in detail["message"]
        # While locked even the right password is refused, with the same clear message.
        right = attempt(PASSWORD)
        assert right.status_code == 429
        assert right.json()["detail"]["locked_until"] == detail["locked_until"]
        # Ten minutes pass (the lock's end moved into the past, as the clock would).
        with database.session() as session:
            session.execute(update(User).values(locked_until=utcnow() - timedelta(seconds=1)))
        assert attempt(PASSWORD).status_code == 200
    with database.sessionmaker() as session:
        user = session.scalars(select(User)).one()
    assert user.failed_sign_ins == 0
    assert user.locked_until is None


# ---------------------------------------------------------------- password reset by mail


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _reset_settings(database: Database, server: SmtpServer, **more: Any) -> Settings:
    return Settings(
        database_url=database.url,
        environment=Environment.test,
        public_url="https://laurel.acme.test",
        smtp_host=HOST,
        smtp_port=server.port,
        smtp_security="none",
        smtp_timeout_seconds=5.0,
        **more,
    )


def _sent(client: TestClient) -> None:
    """The worker sends what the outbox holds (the reset mail is queued, not sent inline)."""
    client.app.state.worker.run_outbox_once()  # type: ignore[attr-defined]


def _link(message: Received) -> str:
    found = re.search(
        r"https://laurel\.acme\.test/password-reset/confirm\?token=(\S+)", message.text
    )
    assert found, message.text
    return found.group(1)


def test_password_reset_by_mailed_single_use_link(
    smtp: SmtpServer, database: Database, providers: ProviderRegistry, tenant: Tenant
) -> None:
    settings = _reset_settings(database, smtp)
    make_user(database, tenant.id, "re@acme.test", ["auditor"])
    app = create_app(settings, database, providers=providers)
    with plain_client(app, base_url="https://testserver") as client:
        old = Browser(app)
        old.sign_in("acme", "re@acme.test")

        reset = "/api/v1/auth/password-reset"
        unknown = client.post(reset, json={"organization": "acme", "email": "who@acme.test"})
        assert unknown.status_code == 202
        _sent(client)
        assert smtp.mailbox.received == []
        known = client.post(
            reset,
            json={"organization": "acme", "email": "re@acme.test"},
            headers={"Accept-Language": "fr-FR,fr;q=0.9"},
        )
        assert known.status_code == 202
        _sent(client)
        (message,) = smtp.mailbox.received
        assert message.rcpt_tos == ["re@acme.test"]
        assert message.message["Content-Language"] == "fr"
        assert "mot de passe" in message.text
        token = _link(message)
        with database.sessionmaker() as session:
            # Sent: the outbox row no longer holds the link.
            (context,) = session.scalars(
                select(OutboxEmail.context).where(OutboxEmail.template == "password_reset")
            ).all()
            assert context == {"redacted": True}
        with database.sessionmaker() as session:
            from laurel.auth.models import PasswordReset

            assert token not in session.scalars(select(PasswordReset.token_hash)).all()

        confirm = "/api/v1/auth/password-reset/confirm"
        short = client.post(confirm, json={"token": token, "password": "short"})
        assert short.status_code == 422
        assert short.json()["detail"][0]["field"] == "password"
        new_password = "a brand new long password"
        assert (
            client.post(confirm, json={"token": token, "password": new_password}).status_code == 204
        )
        reused = client.post(confirm, json={"token": token, "password": "another long password"})
        assert reused.status_code == 400
        assert reused.json()["error"] == "invalid_token"

        # Sessions from before the reset are over; the old password no longer works.
        assert old.client.get("/api/v1/auth/me").status_code == 401
        body = {"organization": "acme", "email": "re@acme.test", "password": PASSWORD}
        assert client.post(SIGN_IN, json=body).status_code == 401
        body["password"] = new_password
        assert client.post(SIGN_IN, json=body).status_code == 200


def test_expired_reset_link_is_refused(
    smtp: SmtpServer, database: Database, providers: ProviderRegistry, tenant: Tenant
) -> None:
    settings = _reset_settings(database, smtp, password_reset_minutes=0.5 / 60)
    make_user(database, tenant.id, "ex@acme.test", ["auditor"])
    with plain_client(create_app(settings, database, providers=providers)) as client:
        client.post(
            "/api/v1/auth/password-reset", json={"organization": "acme", "email": "ex@acme.test"}
        )
        _sent(client)
        token = _link(smtp.mailbox.received[0])
        time.sleep(0.7)
        late = client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": token, "password": "a brand new long password"},
        )
        assert late.status_code == 400


# ---------------------------------------------------------------- pages


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


def test_sign_in_page_form_with_csrf(browser: Browser, tenant: Tenant, database: Database) -> None:
    make_user(database, tenant.id, "pg@acme.test", ["auditor"])
    page = browser.client.get("/sign-in?organization=acme&next=/api/v1/auth/me")
    assert page.status_code == 200
    assert "<form" in page.text
    token = _hidden(page.text, "csrf_token")
    form = {
        "organization": "acme",
        "email": "pg@acme.test",
        "password": PASSWORD,
        "next": "/api/v1/auth/me",
    }
    forged = browser.client.post("/sign-in", data={**form, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert "laurel_session" not in browser.client.cookies

    page = browser.client.get("/sign-in?organization=acme")
    token = _hidden(page.text, "csrf_token")
    wrong = browser.client.post("/sign-in", data={**form, "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    assert "wrong organization, email or password" in wrong.text

    token = _hidden(wrong.text, "csrf_token")
    done = browser.client.post(
        "/sign-in", data={**form, "csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/api/v1/auth/me"
    assert browser.client.get("/api/v1/auth/me").json()["roles"] == ["auditor"]

    # An open redirect to another site is not followed.
    page = browser.client.get("/sign-in?organization=acme")
    token = _hidden(page.text, "csrf_token")
    evil = browser.client.post(
        "/sign-in",
        data={**form, "next": "//evil.example", "csrf_token": token},
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/"

    # Signing out with a form needs the session's CSRF token.
    csrf = browser.client.cookies["laurel_csrf"]
    refused = browser.client.post("/sign-out", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    out = browser.client.post("/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert browser.client.get("/api/v1/auth/me").status_code == 401


def test_a_reset_link_works_once_under_concurrency(tenant: Tenant, database: Database) -> None:
    """Two confirmations of one link at the same time: exactly one sets the password."""
    from concurrent.futures import ThreadPoolExecutor

    from laurel.auth import users
    from laurel.kit.errors import AppError

    make_user(database, tenant.id, "race@acme.test", ["auditor"])
    with database.session() as session:
        found = users.request_reset(
            session, organization="acme", email="race@acme.test", lifetime=timedelta(minutes=5)
        )
    assert found is not None

    def confirm(password: str) -> str:
        try:
            with database.session() as session:
                users.confirm_reset(session, token=found.token, password=password)
        except AppError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(confirm, [f"new password number {i}" for i in range(4)]))
    assert sorted(outcomes) == ["invalid_token", "invalid_token", "invalid_token", "ok"]


def test_parallel_guesses_get_no_more_tries_than_the_policy(
    tenant: Tenant, database: Database
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from laurel.auth import users

    make_user(database, tenant.id, "par@acme.test", ["auditor"])
    policy = users.Policy(
        session_lifetime=timedelta(hours=1), max_failures=3, lockout=timedelta(minutes=10)
    )

    def guess(i: int) -> str:
        with database.session() as session:
            outcome = users.sign_in(
                session,
                organization="acme",
                email="par@acme.test",
                password=f"guess number {i}",
                policy=policy,
            )
        assert outcome.failure is not None
        return str(outcome.failure)

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = sorted(pool.map(guess, range(6)))
    assert outcomes == ["bad_credentials"] * 2 + ["locked"] * 4
