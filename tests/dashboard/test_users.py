"""User management and API keys pages for org admins, and the navigation per role: every
link shown opens, and the permission table alone decides who sees which."""

from __future__ import annotations

import html as html_
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.app import create_app
from laurel.config import Settings
from laurel.dashboard.render import NAV
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.learners import sealing
from laurel.notifications.models import OutboxEmail
from tests.auth.support import PASSWORD, Browser, make_user
from tests.conftest import Tenant, completion
from tests.notifications.support import HOST, SmtpServer, smtp_server

ADMIN = "admin@acme.test"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def app(
    settings: Settings, database: Database, providers: ProviderRegistry, smtp: SmtpServer
) -> FastAPI:
    mail = settings.model_copy(
        update={"smtp_host": HOST, "smtp_port": smtp.port, "smtp_security": "none"}
    )
    return create_app(mail, database, providers=providers)


@pytest.fixture
def admin(app: FastAPI, database: Database, tenant: Tenant) -> Browser:
    make_user(database, tenant.id, ADMIN, ["org_admin"])
    browser = Browser(app)
    browser.sign_in("acme", ADMIN)
    return browser


def post(browser: Browser, path: str, data: dict[str, Any]) -> Any:
    return browser.client.post(
        path, data={**data, "csrf_token": browser.csrf}, follow_redirects=False
    )


def field_error(page: str, name: str, within: str = "") -> str:
    scope = page.split(within, 1)[1] if within else page
    block = re.search(rf'data-field="{re.escape(name)}">(.*?)</(?:div|fieldset)>', scope, re.S)
    assert block is not None, f"no field {name}"
    found = re.search(r'class="field-error"[^>]*>(.*?)</span>', block.group(1), re.S)
    return html_.unescape(found.group(1)) if found else ""


def test_invite_mails_a_sealed_link_that_sets_the_password(
    app: FastAPI, admin: Browser, database: Database, smtp: SmtpServer
) -> None:
    assert admin.client.get("/dashboard/users").status_code == 200
    bad = post(
        admin,
        "/dashboard/users",
        {"email": "not-an-address", "name": "Mo", "roles": ["department_manager"]},
    )
    assert bad.status_code == 422
    assert "give an email address" in field_error(bad.text, "email")
    assert 'value="not-an-address"' in bad.text
    no_department = post(
        admin,
        "/dashboard/users",
        {"email": "mo@acme.test", "name": "Mo", "roles": ["department_manager"]},
    )
    assert no_department.status_code == 422
    assert "needs at least one department" in field_error(no_department.text, "departments")
    assert 'value="Mo"' in no_department.text
    invited = post(
        admin,
        "/dashboard/users",
        {
            "email": "mo@acme.test",
            "name": "Mo",
            "roles": ["department_manager"],
            "departments": "Sales, Support",
        },
    )
    assert invited.status_code == 201, invited.text
    assert "Invited mo@acme.test" in invited.text
    again = post(admin, "/dashboard/users", {"email": "mo@acme.test", "roles": ["finance"]})
    assert again.status_code == 409
    assert "already exists" in field_error(again.text, "email")
    with database.read_session() as session:
        [row] = session.scalars(select(OutboxEmail).where(OutboxEmail.template == "user_invite"))
        # The outbox row holds the link sealed: the table alone cannot set a password.
        assert "password-reset" not in str(sealing.value_of(row, sealing.OUTBOX_CONTEXT))
        assert "password-reset" not in str(row.secrets_sealed)
        assert sealing.value_of(row, sealing.OUTBOX_RECIPIENT) == "mo@acme.test"
    assert app.state.worker.run_outbox_once() == 1
    [mail] = smtp.mailbox.received
    assert mail.rcpt_tos == ["mo@acme.test"]
    token = re.search(r"/password-reset/confirm\?token=([\w-]+)", mail.text)
    assert token is not None, mail.text
    assert "mo@acme.test" in mail.text
    done = TestClient(app, base_url="https://testserver").post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token.group(1), "password": PASSWORD},
    )
    assert done.status_code == 204, done.text
    manager = Browser(app)
    manager.sign_in("acme", "mo@acme.test")
    me = manager.client.get("/api/v1/auth/me").json()
    assert me["roles"] == ["department_manager"]
    assert me["departments"] == ["Sales", "Support"]


def test_roles_departments_deactivate_and_reactivate(
    app: FastAPI, admin: Browser, database: Database, tenant: Tenant
) -> None:
    user_id = make_user(database, tenant.id, "fi@acme.test", ["finance"])
    finance = Browser(app)
    finance.sign_in("acme", "fi@acme.test")
    path = f"/dashboard/users/{user_id}"
    bad = post(admin, path, {"name": "Fi", "roles": ["department_manager"], "departments": ""})
    assert bad.status_code == 422
    assert "needs at least one department" in field_error(
        bad.text, "departments", within='data-user="fi@acme.test"'
    )
    changed = post(admin, path, {"name": "Fi", "roles": ["finance", "auditor"], "departments": ""})
    assert changed.status_code == 303
    # New roles end the old sessions: sign in again to get them.
    assert finance.client.get("/api/v1/auth/me").status_code == 401
    finance.sign_in("acme", "fi@acme.test")
    assert finance.client.get("/api/v1/auth/me").json()["roles"] == ["auditor", "finance"]
    assert post(admin, f"{path}/deactivate", {}).status_code == 303
    assert finance.client.get("/api/v1/auth/me").status_code == 401
    refused = finance.client.post(
        "/api/v1/auth/sign-in",
        json={"organization": "acme", "email": "fi@acme.test", "password": PASSWORD},
    )
    assert refused.status_code == 401
    assert "deactivated" in admin.client.get("/dashboard/users").text
    assert post(admin, f"{path}/reactivate", {}).status_code == 303
    finance.sign_in("acme", "fi@acme.test")
    # An admin cannot lock themselves out.
    me = admin.client.get("/api/v1/auth/me").json()["actor"].removeprefix("user:")
    own = post(admin, f"/dashboard/users/{me}/deactivate", {})
    assert own.status_code == 409
    assert "your own account" in html_.unescape(own.text)
    demoted = post(admin, f"/dashboard/users/{me}", {"roles": ["finance"], "departments": ""})
    assert demoted.status_code == 422
    # Without the session's CSRF token nothing changes.
    assert admin.client.post(f"{path}/deactivate").status_code == 403
    # Only org admins manage users.
    assert finance.client.get("/dashboard/users").status_code == 403
    assert post(finance, "/dashboard/users", {"email": "x@acme.test"}).status_code == 403


def test_api_keys_created_shown_once_rotated_with_overlap_and_revoked(
    app: FastAPI, admin: Browser, tenant: Tenant
) -> None:
    assert admin.client.get("/dashboard/api-keys").status_code == 200
    bad = post(admin, "/dashboard/api-keys", {"name": "lms", "mode": "live"})
    assert bad.status_code == 422
    assert "give at least one of" in field_error(bad.text, "scopes")
    made = post(admin, "/dashboard/api-keys", {"name": "lms", "mode": "live", "scopes": ["read"]})
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    secret = re.search(r'<code id="secret">(lrl_live_[\w-]+)</code>', made.text)
    assert secret is not None
    key = secret.group(1)
    # Shown once: the list never shows it again.
    listing = admin.client.get("/dashboard/api-keys").text
    assert key not in listing
    assert key[:13] in listing
    api = TestClient(app)
    assert api.get("/api/v1/rewards", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    row = admin.client.get("/dashboard/api-keys").text.split(f'data-key="{key[:13]}"', 1)[1]
    last_used = re.search(r'data-testid="last-used">([^<]+)<', row)
    assert last_used is not None
    assert last_used.group(1).startswith(utcnow().strftime("%Y-%m-%d"))
    key_id = re.search(r'action="/dashboard/api-keys/([0-9a-f-]{36})/rotate"', row)
    assert key_id is not None
    until = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    rotated = post(admin, f"/dashboard/api-keys/{key_id.group(1)}/rotate", {"overlap_until": until})
    assert rotated.status_code == 201
    replacement = re.search(r'<code id="secret">(lrl_live_[\w-]+)</code>', rotated.text)
    assert replacement is not None
    for secret_ in (key, replacement.group(1)):  # both work during the overlap
        answer = api.get("/api/v1/rewards", headers={"Authorization": f"Bearer {secret_}"})
        assert answer.status_code == 200
    twice = post(admin, f"/dashboard/api-keys/{key_id.group(1)}/rotate", {"overlap_until": until})
    assert twice.status_code == 409
    assert post(admin, f"/dashboard/api-keys/{key_id.group(1)}/revoke", {}).status_code == 303
    gone = api.get("/api/v1/rewards", headers={"Authorization": f"Bearer {key}"})
    assert gone.status_code == 401
    assert admin.client.post(f"/dashboard/api-keys/{key_id.group(1)}/revoke").status_code == 403


ROLES: list[tuple[str, list[str], dict[str, Any]]] = [
    ("org_admin", ["org_admin"], {}),
    ("program_manager", ["program_manager"], {}),
    ("finance", ["finance"], {}),
    ("compliance", ["compliance"], {}),
    ("auditor", ["auditor"], {}),
    ("department_manager", ["department_manager"], {"departments": ["Sales"]}),
    ("learner", ["learner"], {"learner": True}),
    ("program_manager_with_learner", ["program_manager"], {"learner": True}),
]


@pytest.mark.parametrize(("who", "roles", "extra"), ROLES, ids=[r[0] for r in ROLES])
def test_each_role_sees_exactly_the_links_it_can_open(
    app: FastAPI,
    database: Database,
    tenant: Tenant,
    who: str,
    roles: list[str],
    extra: dict[str, Any],
) -> None:
    api = TestClient(app)
    learner_id = None
    if extra.get("learner"):
        answer = api.post("/api/v1/completions", headers=tenant.headers, json=completion("e-1"))
        assert answer.status_code == 202, answer.text
        learner_id = uuid.UUID(answer.json()["learner_id"])
    email = f"{who}@acme.test"
    make_user(
        database,
        tenant.id,
        email,
        roles,
        departments=extra.get("departments", ()),
        learner_id=learner_id,
    )
    browser = Browser(app)
    browser.sign_in("acme", email)
    home = browser.client.get("/dashboard", headers={"Accept": "text/html"})
    assert home.status_code == 200, home.text
    block = home.text.split('<nav aria-label="Dashboard">', 1)[1].split("</nav>", 1)[0]
    shown = [html_.unescape(h) for h in re.findall(r'href="([^"]+)"', block)]
    assert shown, "every role has at least one page"
    for href in shown:
        assert browser.client.get(href).status_code == 200, href
    for link in NAV:
        if link.role is not None:
            continue  # open to everyone, linked only for those who need it (My rewards)
        if link.path not in shown:
            assert browser.client.get(link.path).status_code in {403, 404}, link.path
    if who == "org_admin":
        assert {"/dashboard/users", "/dashboard/api-keys"} <= set(shown)
    if who == "program_manager_with_learner":
        # Points pages belong to the learner portal and its own sign-in, not the dashboard.
        assert not any(h.startswith("/points/") for h in shown)
    if who == "learner":
        assert "/dashboard/me" in shown
        assert not any(h.startswith("/points/") for h in shown)
