"""The admin side of links: who sees the URL, reissue rules, expiry by command, OpenAPI."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from laurel.auth import service as auth
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.links.models import RewardLink
from tests.cli.test_commands import laurel
from tests.conftest import Tenant, completion
from tests.delivery.support import load_reward
from tests.factories import fixed_program
from tests.links.support import link_program, link_reward, sync_catalog


def test_only_admin_keys_see_the_link_url(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    with database.session() as session:
        reader = auth.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="test"
        )
    headers = {"Authorization": f"Bearer {reader.secret}"}
    assert client.get(f"/api/v1/rewards/{reward_id}", headers=headers).json()["link_url"] is None
    listed = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    assert listed[0]["link_url"].endswith(path)
    assert client.get(f"/api/v1/rewards/{reward_id}/link", headers=headers).status_code == 403
    link = client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.headers).json()
    assert link["url"].endswith(path)
    assert (link["generation"], link["status"], link["opens"]) == (1, "open", 0)
    # Another mode's key does not find a live reward.
    assert (
        client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.test_headers).status_code
        == 404
    )


def test_rewards_delivered_otherwise_have_no_link(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant)
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    reward_id = response.json()["rewards"][0]["id"]
    assert (
        client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()["link_url"]
        is None
    )
    missing = client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.headers)
    assert missing.status_code == 404
    refused = client.post(f"/api/v1/rewards/{reward_id}/link/reissue", headers=tenant.headers)
    assert refused.status_code == 409
    assert refused.json()["error"] == "link_conflict"


def test_reissue_kills_the_old_link_at_once(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    new = client.post(f"/api/v1/rewards/{reward_id}/link/reissue", headers=tenant.headers).json()
    assert new["generation"] == 2
    assert "Este enlace ha sido sustituido" in client.get(path).text
    third = client.post(f"/api/v1/rewards/{reward_id}/link/reissue", headers=tenant.headers)
    assert third.json()["generation"] == 3
    assert (
        client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()["link_url"]
        == third.json()["url"]
    )


def test_program_link_lifetime_and_the_expire_command(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    program = link_program(client, tenant)
    settings_url = f"/api/v1/programs/{program['id']}/link-settings"
    assert client.get(settings_url, headers=tenant.headers).json()["lifetime_days"] is None
    client.put(settings_url, json={"lifetime_days": 3}, headers=tenant.headers)
    reward_id, _ = link_reward(client, tenant, database, settings, providers)
    link = client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.headers).json()
    assert client.get(settings_url, headers=tenant.headers).json()["lifetime_days"] == 3
    lifetime = link["expires_at"]
    assert lifetime[:10] == (utcnow() + timedelta(days=3)).date().isoformat()

    with database.session() as session:
        session.execute(update(RewardLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    done = laurel("links", "expire", url=database.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 links expired"
    assert load_reward(database, reward_id).state == "expired"
    assert laurel("links", "expire", url=database.url).stdout.strip() == "0 links expired"


def test_openapi_documents_the_new_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in [
        "/api/v1/catalog/items",
        "/api/v1/catalog/items/{item_id}",
        "/api/v1/catalog/items/{item_id}/deactivate",
        "/api/v1/catalog/sync",
        "/api/v1/rewards/{reward_id}/link",
        "/api/v1/rewards/{reward_id}/link/reissue",
        "/api/v1/rewards/{reward_id}/choices",
        "/api/v1/programs/{program_id}/link-settings",
        "/r/{token}",
    ]:
        assert path in paths, path
    assert {"401", "403", "409", "422"} <= set(paths["/api/v1/catalog/items"]["post"]["responses"])
    assert {"303", "400", "404", "422"} <= set(paths["/r/{token}"]["post"]["responses"])
