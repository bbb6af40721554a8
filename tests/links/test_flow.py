"""A link reward from completion to redemption, through real HTTP on both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.audit.models import AuditEntry
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.links.models import RewardLink
from tests.conftest import Tenant
from tests.delivery.support import load_reward, trail
from tests.links.support import form, ledger_count, link_program, link_reward, sync_catalog


def _link_actions(database: Database, reward_id: uuid.UUID) -> list[str]:
    with database.session() as session:
        link_ids = [
            str(i)
            for i in session.scalars(select(RewardLink.id).where(RewardLink.reward_id == reward_id))
        ]
        return [
            e.action
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_type == "reward_link", AuditEntry.target_id.in_(link_ids))
                .order_by(AuditEntry.seq)
            )
        ]


def test_a_link_reward_waits_as_a_link_and_is_redeemed_once(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)

    shown = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    assert shown["state"] == "delivered"
    assert shown["provider"] == "link"
    # The delivery says where the link is, never its token.
    assert shown["delivery"]["provider"] == "link"
    assert path.rsplit("/", 1)[1] not in str(shown["delivery"])
    with database.session() as session:
        stored = session.scalars(select(RewardLink)).one()
        assert path.rsplit("/", 1)[1] not in {stored.salt, stored.token_hash}

    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    token, choices = form(page.text)
    # A US learner with 25.00 USD: the US range card, the 25.00 prepaid card and the charity;
    # not the 40.00 hoodie (no such value) nor the European or Mexican cards (other countries).
    assert set(choices) == {"Sandbox Books", "Sandbox Prepaid Visa", "Sandbox Trees (charity)"}

    redeemed = client.post(
        path,
        data={"form_token": token, "item_id": choices["Sandbox Prepaid Visa"]},
        follow_redirects=False,
    )
    assert redeemed.status_code == 303
    after = client.get(path)
    assert "SBX-" in after.text  # the full code, just after redeeming
    assert load_reward(database, reward_id).state == "redeemed"
    delivered = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    assert delivered["delivery"]["provider"] == "sandbox"
    assert delivered["delivery"]["details"]["code"] in after.text
    assert delivered["delivery"]["details"]["amount_minor"] == 2500

    again = client.post(
        path,
        data={"form_token": token, "item_id": choices["Sandbox Books"]},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert ledger_count(database) == 1
    link = client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.headers).json()
    assert link["opens"] == 2
    assert link["opened_at"] is not None
    # Reads of the code and the link by the admin above are audited too; the states come last.
    assert [a for a, _ in trail(database, reward_id) if not a.endswith(":read")][-2:] == [
        "rewards:reward:delivered",
        "rewards:reward:redeemed",
    ]
    assert _link_actions(database, reward_id) == [
        "links:link:mint",
        "links:link:open",
        "links:link:claim",
        "links:link:redeem",
        "links:link:open",
    ]


def test_the_page_is_in_the_learners_language_under_the_programs_brand(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    program = link_program(client, tenant)
    brand = {
        "name": "Acme Academy",
        "logo_url": "https://cdn.example.com/acme.png",
        "primary_color": "#aa0000",
        "support_contact": "academy@acme.example",
    }
    put = client.put(
        f"/api/v1/programs/{program['id']}/link-settings",
        json={"lifetime_days": 7, "brand": brand},
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    sync_catalog(client, tenant)
    _, path = link_reward(client, tenant, database, settings, providers, locale="fr-CA")

    html = client.get(path).text
    assert '<html lang="fr">' in html
    assert "Félicitations, Ana Díaz !" in html
    assert "Obtenir ma récompense" in html
    assert "Acme Academy" in html
    assert "https://cdn.example.com/acme.png" in html
    assert "#aa0000" in html
    assert "Laurel" not in html
    link = client.get(path, headers={"Accept-Language": "de"}).text
    assert "Félicitations" in link  # the learner's own language wins over the browser's
    assert "Prämie einlösen" in client.get(path + "?lang=de").text

    bad = client.put(
        f"/api/v1/programs/{program['id']}/link-settings",
        json={"brand": {"primary_color": "red;}</style>", "logo_url": "javascript:x"}},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["detail"]} == {"brand.primary_color", "brand.logo_url"}


def test_unknown_links_and_stale_forms_issue_nothing(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    _, choices = form(client.get(path).text)

    assert client.get("/r/not-a-real-token").status_code == 404
    assert "This link is not valid" in client.get("/r/not-a-real-token").text
    stale = client.post(path, data={"form_token": "forged", "item_id": choices["Sandbox Books"]})
    assert stale.status_code == 400
    assert "formulario está desactualizado" in stale.text
    token, _ = form(client.get(path).text)
    europe = client.get("/api/v1/catalog/items?provider=sandbox", headers=tenant.headers).json()
    eu_item = next(i["id"] for i in europe if i["sku"] == "SBX-STORE-EU")
    refused = client.post(path, data={"form_token": token, "item_id": eu_item})
    assert refused.status_code == 422
    assert "no está disponible" in refused.text  # es-MX learner: the error is translated too
    nothing = client.post(path, data={"form_token": token})
    assert nothing.status_code == 422
    assert ledger_count(database) == 0
    assert load_reward(database, reward_id).state == "delivered"


def test_an_expired_link_says_so_and_a_reissued_one_replaces_it(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    token, choices = form(client.get(path).text)
    with database.session() as session:
        session.execute(update(RewardLink).values(expires_at=utcnow() - timedelta(minutes=1)))

    expired = client.get(path + "?lang=en")
    assert expired.status_code == 200
    assert "This link has expired" in expired.text
    assert "the team that runs your training program" in expired.text
    assert load_reward(database, reward_id).state == "expired"
    late = client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    assert "This link has expired" in client.get(path + "?lang=en").text
    assert late.status_code == 200  # the redirect back to the page, which says it expired
    assert ledger_count(database) == 0

    reissued = client.post(f"/api/v1/rewards/{reward_id}/link/reissue", headers=tenant.headers)
    assert reissued.status_code == 200, reissued.text
    body = reissued.json()
    assert body["generation"] == 2
    assert body["status"] == "open"
    assert load_reward(database, reward_id).state == "delivered"
    new_path = "/r/" + body["url"].rsplit("/r/", 1)[1]
    assert new_path != path
    assert "This link has been replaced" in client.get(path + "?lang=en").text
    new_token, new_choices = form(client.get(new_path).text)
    assert new_token != token
    old_form = client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    assert "Este enlace ha sido sustituido" in old_form.text
    assert ledger_count(database) == 0
    done = client.post(
        new_path,
        data={"form_token": new_token, "item_id": new_choices["Sandbox Books"]},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert load_reward(database, reward_id).state == "redeemed"
    assert ledger_count(database) == 1
    refused = client.post(f"/api/v1/rewards/{reward_id}/link/reissue", headers=tenant.headers)
    assert refused.status_code == 409
    actions = [a for a, _ in trail(database, reward_id)]
    assert actions[-3:] == [
        "rewards:reward:expired",
        "rewards:reward:delivered",
        "rewards:reward:redeemed",
    ]


def test_a_redeemed_page_later_shows_only_the_codes_last_characters(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    token, choices = form(client.get(path).text)
    client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    code = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()["delivery"][
        "details"
    ]["code"]
    with database.session() as session:
        session.execute(update(RewardLink).values(redeemed_at=utcnow() - timedelta(hours=1)))

    later = client.get(path).text
    assert code not in later
    assert code[-4:] in later
    assert "Tu recompensa ha sido canjeada" in later
