"""A learner signs in through the organization's OpenID Connect provider (a real one on
loopback): the verified email names the learner; nobody else gets in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.app import create_app
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.portal.models import LearnerSession
from tests.auth.idp import Provider, Running
from tests.auth.support import plain_client
from tests.conftest import Tenant
from tests.points.support import add_learner


@pytest.fixture
def idp() -> Iterator[Provider]:
    with Running(Provider(email="a1@example.com", groups=[])) as provider:
        yield provider


@pytest.fixture
def sso(
    database: Database, providers: ProviderRegistry, tenant: Tenant, idp: Provider
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database.url, environment=Environment.test, public_url="https://testserver"
    )
    with plain_client(
        create_app(settings, database, providers=providers), base_url="https://testserver"
    ) as client:
        configured = client.put(
            "/api/v1/auth/oidc",
            headers=tenant.headers,
            json={
                "issuer": idp.url,
                "client_id": idp.client_id,
                "client_secret": idp.client_secret,
                "role_mapping": {"Laurel Admins": "org_admin"},
            },
        )
        assert configured.status_code == 200, configured.text
        yield client


def _walk(client: TestClient) -> Any:
    page = client.get("/portal/acme/sign-in")
    assert 'href="/portal/acme/sso"' in page.text  # offered only where SSO is configured
    start = client.get("/portal/acme/sso", follow_redirects=False)
    assert start.status_code == 302, start.text
    at_idp = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlparse(at_idp.headers["location"])
    assert back.path == "/auth/oidc/callback"
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_a_learner_signs_in_through_the_identity_provider(
    sso: TestClient, tenant: Tenant, database: Database
) -> None:
    with database.session() as session:
        ana = add_learner(session, tenant, "A1")
    done = _walk(sso)
    assert (done.status_code, done.headers["location"]) == (303, "/points/wallet")
    assert sso.get("/points/wallet").status_code == 200
    me = sso.get("/api/v1/auth/me").json()
    assert (me["kind"], me["learner_id"]) == ("learner", str(ana))
    with database.read_session() as session:
        methods = session.scalars(select(LearnerSession.method)).all()
    assert methods == ["oidc"]
    # No dashboard user was made: the provider grants this person no Laurel role.
    assert sso.get("/api/v1/users", headers=tenant.headers).json() == []


def test_an_email_that_is_no_learner_is_refused(
    sso: TestClient, tenant: Tenant, database: Database, idp: Provider
) -> None:
    with database.session() as session:
        add_learner(session, tenant, "B1")
    done = _walk(sso)
    assert done.status_code == 401, done.text
    assert not sso.cookies.get("laurel_learner")
