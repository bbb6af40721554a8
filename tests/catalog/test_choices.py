"""What a learner is offered (their country, the reward's value after conversion, charity
everywhere) and how a reward paid in another currency is recorded: rate, fee, USD equivalent."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.fx import ecb
from laurel.fx import service as fx
from laurel.kit.clock import utcnow
from tests.conftest import Tenant
from tests.links.support import form, link_program, link_reward, sync_catalog


def _rates(database: Database, tenant: Tenant, *, fee_bps: int = 0) -> None:
    """Today's reference rates (EUR base), as the ECB publishes them."""
    today = utcnow().date().isoformat()
    csv = f"Date,USD,MXN,JPY,BRL,\n{today},1.0450,20.9870,160.12,6.0312,\n"
    with database.session() as session:
        fx.store(session, ecb.parse(csv.encode()), source="ecb", actor="test")
        fx.set_fee(session, tenant.id, fee_bps, actor="test")


def _choices(client: TestClient, tenant: Tenant, reward_id: object) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/rewards/{reward_id}/choices", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {c["item"]["sku"]: c for c in response.json()}


def test_a_learner_abroad_is_offered_local_items_converted_with_the_fee_shown(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    _rates(database, tenant, fee_bps=200)
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(
        client, tenant, database, settings, providers, country="MX", locale="es-MX"
    )

    offered = _choices(client, tenant, reward_id)
    assert set(offered) == {"SBX-TIENDA-MX", "SBX-TREES"}
    tienda = offered["SBX-TIENDA-MX"]
    # 25.00 USD / 1.0450 * 20.9870 = 502.08 MXN; 2 % fee = 10.04 MXN; learner gets 492.04.
    assert tienda["receives"] == {"amount": "492.04", "currency": "MXN"}
    assert tienda["fee"] == {"amount": "10.04", "currency": "MXN"}
    assert tienda["rate_source"] == "ecb"
    assert offered["SBX-TREES"]["receives"] == {"amount": "25.00", "currency": "USD"}

    html = client.get(path).text
    assert "comisión de cambio" in html
    token, choices = form(html)
    client.post(path, data={"form_token": token, "item_id": choices["Sandbox Tienda"]})
    link = client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.headers).json()
    assert link["status"] == "redeemed"
    assert (
        link["conversion"]
        | {
            "original": {"amount": "25.00", "currency": "USD"},
            "paid": {"amount": "492.04", "currency": "MXN"},
            "fee": {"amount": "10.04", "currency": "MXN"},
            "source": "ecb",
            "usd_equivalent": {"amount": "25.00", "currency": "USD"},
        }
        == link["conversion"]
    )
    shown = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    assert shown["delivery"]["details"]["amount_minor"] == 49204
    assert shown["delivery"]["details"]["currency"] == "MXN"


def test_a_euro_program_stores_the_usd_equivalent_without_the_fee(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    _rates(database, tenant, fee_bps=100)
    link_program(client, tenant, amount="20.00", currency="EUR")
    sync_catalog(client, tenant)
    reward_id, path = link_reward(
        client, tenant, database, settings, providers, country="US", locale="en-US"
    )
    offered = _choices(client, tenant, reward_id)
    # 20.00 EUR = 20.90 USD, less 1 % (0.21): 20.69 fits the range card and the charity, and
    # matches none of the prepaid card's fixed values.
    assert set(offered) == {"SBX-BOOKS-US", "SBX-TREES"}
    token, choices = form(client.get(path).text)
    client.post(path, data={"form_token": token, "item_id": choices["Sandbox Trees (charity)"]})
    conversion = client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.headers).json()[
        "conversion"
    ]
    assert conversion["paid"] == {"amount": "20.69", "currency": "USD"}
    assert conversion["fee"] == {"amount": "0.21", "currency": "USD"}
    assert conversion["usd_equivalent"] == {"amount": "20.90", "currency": "USD"}
    assert conversion["rate"] == "1.0450"


def test_without_a_rate_only_items_in_the_rewards_currency_are_offered(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, _ = link_reward(client, tenant, database, settings, providers, country="JP")
    assert set(_choices(client, tenant, reward_id)) == {"SBX-TREES"}


def test_a_programs_kind_narrows_the_choice_but_charity_stays(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant, reward_kind="prepaid_card")
    sync_catalog(client, tenant)
    reward_id, _ = link_reward(client, tenant, database, settings, providers)
    assert set(_choices(client, tenant, reward_id)) == {"SBX-VISA-US", "SBX-TREES"}
    visa = _choices(client, tenant, reward_id)["SBX-VISA-US"]["item"]
    client.post(f"/api/v1/catalog/items/{visa['id']}/deactivate", headers=tenant.headers)
    assert set(_choices(client, tenant, reward_id)) == {"SBX-TREES"}
