"""Helpers for link tests: a link program through the API, the worker run until the link is
minted, and reading the learner's page as a browser would (form token, choices)."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlparse

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.models import SandboxIssuance
from laurel.delivery.providers import ProviderRegistry
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.delivery.support import settle
from tests.factories import fixed_program


def link_program(
    client: TestClient,
    tenant: Tenant,
    *,
    amount: str = "25.00",
    currency: str = "USD",
    **fields: Any,
) -> dict[str, Any]:
    fields.setdefault("reward_kind", "learner_choice")
    budget = {"amount": "1000.00", "currency": currency}
    return fixed_program(
        client, tenant, amount=amount, currency=currency, delivery="link", budget=budget, **fields
    )


def sync_catalog(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    response = client.post("/api/v1/catalog/sync", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def link_reward(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    *,
    event_id: str = "lms-1",
    test_mode: bool = False,
    **learner: Any,
) -> tuple[uuid.UUID, str]:
    """Send a completion, run the worker until the link is minted; (reward id, link path)."""
    body = completion(event_id)
    body["learner"].update(learner)
    headers = tenant.test_headers if test_mode else tenant.headers
    response = client.post("/api/v1/completions", json=body, headers=headers)
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    reward_id = uuid.UUID(reward["id"])
    settled = settle(database, reward_id, Worker(database, settings, providers))
    assert settled.state == "delivered", settled.last_error
    shown = client.get(f"/api/v1/rewards/{reward_id}", headers=headers).json()
    url = shown["link_url"]
    assert url
    assert url.startswith(settings.public_url + "/r/")
    return reward_id, urlparse(url).path


def form(html: str) -> tuple[str, dict[str, str]]:
    """The page's form token and its choices, brand name -> item id."""
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token is not None, html
    items = re.findall(
        r'name="item_id" value="([0-9a-f-]{36})".*?<strong>([^<]+)</strong>', html, re.S
    )
    return token.group(1), {brand: item for item, brand in items}


def ledger_count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(SandboxIssuance)) or 0
