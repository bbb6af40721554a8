"""Single sign-on against a real OpenID Connect provider running on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey
from sqlalchemy import select

from laurel.app import create_app
from laurel.auth.models import OidcProvider, User
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from tests.auth.idp import Provider, Running
from tests.auth.support import plain_client
from tests.conftest import Tenant

MAPPING = {
    "Laurel Finance": "finance",
    "Laurel Managers": "department_manager",
    "Laurel Admins": "org_admin",
}


@pytest.fixture
def idp() -> Iterator[Provider]:
    with Running(Provider()) as provider:
        yield provider


@pytest.fixture
def sso_client(
    database: Database, providers: ProviderRegistry, tenant: Tenant, idp: Provider
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database.url,
        environment=Environment.test,
        public_url="https://testserver",
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
                "role_claim": "groups",
                "role_mapping": MAPPING,
                "department_claim": "department",
            },
        )
        assert configured.status_code == 200, configured.text
        assert configured.json()["redirect_uri"] == "https://testserver/auth/oidc/callback"
        assert "client_secret" not in configured.json()
        yield client


def _sign_in(client: TestClient) -> Any:
    """The browser's walk: Laurel -> provider -> Laurel's callback."""
    start = client.get("/auth/oidc/acme/start?next=/api/v1/auth/me", follow_redirects=False)
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    query = parse_qs(urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"][0]
    assert query["nonce"][0]
    at_idp = httpx.get(authorize, follow_redirects=False)
    assert at_idp.status_code == 302, at_idp.text
    back = urlparse(at_idp.headers["location"])
    assert back.path == "/auth/oidc/callback"
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_sign_in_through_the_provider_maps_groups_to_roles(
    sso_client: TestClient, idp: Provider, database: Database
) -> None:
    done = _sign_in(sso_client)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/api/v1/auth/me"
    assert idp.pkce_verified == 1
    me = sso_client.get("/api/v1/auth/me").json()
    assert me["roles"] == ["finance"]
    with database.sessionmaker() as session:
        user = session.scalars(select(User)).one()
    assert user.email == "ana@acme.test"
    assert user.sso_subject == f"{idp.url}|{idp.subject}"
    assert user.password_hash is None

    # The provider is the truth: new groups, new roles (and a department manager's scope).
    idp.groups = ["Laurel Managers", "Unrelated Group"]
    assert _sign_in(sso_client).status_code == 303
    me = sso_client.get("/api/v1/auth/me").json()
    assert me["roles"] == ["department_manager"]
    with database.sessionmaker() as session:
        assert session.scalars(select(User.departments)).one() == ["Sales"]
        sealed = session.scalars(select(OidcProvider.client_secret_sealed)).one()
    assert idp.client_secret not in sealed


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"nonce": "not-the-nonce"}, "nonce"),
        ({"aud": "another-client"}, "aud"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "exp"),
        ({"iss": "https://impostor.example"}, "iss"),
    ],
)
def test_bad_id_tokens_are_refused(
    sso_client: TestClient, idp: Provider, claims: dict[str, object], why: str
) -> None:
    idp.claims = claims
    refused = _sign_in(sso_client)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "sso_failed"
    assert why in refused.json()["detail"]
    assert "laurel_session" not in sso_client.cookies
    assert sso_client.get("/api/v1/auth/me").status_code == 401


def test_token_signed_by_another_key_is_refused(sso_client: TestClient, idp: Provider) -> None:
    idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    refused = _sign_in(sso_client)
    assert refused.status_code == 401
    assert refused.json()["error"] == "sso_failed"


def test_no_mapped_group_no_entry(sso_client: TestClient, idp: Provider) -> None:
    idp.groups = ["Everyone"]
    refused = _sign_in(sso_client)
    assert refused.status_code == 401
    assert "no Laurel role" in refused.json()["detail"]


def test_state_is_used_once(sso_client: TestClient, idp: Provider) -> None:
    start = sso_client.get("/auth/oidc/acme/start", follow_redirects=False)
    at_idp = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlparse(at_idp.headers["location"])
    assert sso_client.get(f"{back.path}?{back.query}", follow_redirects=False).status_code == 303
    replay = sso_client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert replay.status_code == 401
    forged = sso_client.get("/auth/oidc/callback?code=x&state=forged", follow_redirects=False)
    assert forged.status_code == 401


def test_unconfigured_organization(sso_client: TestClient, database: Database) -> None:
    from tests.conftest import make_tenant

    make_tenant(database, "globex")
    missing = sso_client.get("/auth/oidc/globex/start", follow_redirects=False)
    assert missing.status_code == 404
    assert missing.json()["error"] == "sso_not_configured"
