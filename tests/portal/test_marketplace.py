"""The marketplace page: offers valid in the learner's country at their points price, redeemed
with the session's CSRF token, a double submit spending once, and the result shown."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.catalog.models import CatalogItem
from laurel.db import Database
from laurel.kit.money import Money
from laurel.points import grants, ledger, marketplace, setup
from laurel.points.models import Redemption
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.points.support import add_learner, scope
from tests.portal.support import Signed, sign_in


def _item(database: Database, tenant: Tenant, brand: str, countries: list[str]) -> uuid.UUID:
    with database.session() as session:
        item = CatalogItem(
            organization_id=tenant.id,
            provider="sandbox",
            sku=brand.upper(),
            brand=brand,
            kind="gift_card",
            currency="USD",
            countries=countries,
            fixed_values_minor=[2500],
        )
        session.add(item)
        session.flush()
        return item.id


def store(client: TestClient, tenant: Tenant, database: Database, **fields: Any) -> uuid.UUID:
    """A redemption program, two offers (one only valid in Germany) and Ana (US, 3,000 points)."""
    program = fixed_program(client, tenant, key="store", amount="1.00", **fields)
    coffee = _item(database, tenant, "Coffee", ["US", "CA"])
    beer = _item(database, tenant, "Bier", ["DE"])
    with database.session() as session:
        setup.update(
            session,
            tenant.actor,
            {"redemption_program_id": uuid.UUID(program["id"]), "points_per_unit": 100},
        )
        for item, name in ((coffee, "Coffee card 25 USD"), (beer, "Bier-Gutschein 25 USD")):
            marketplace.create_offer(
                session,
                tenant.actor,
                catalog_item_id=item,
                name=name,
                value=Money(2500, "USD"),
                sku=name[:6],
            )
        ana = add_learner(session, tenant, "A1", country="US")
        grants.request_grant(
            session, tenant.actor, learner_id=ana, points=3000, reason="welcome", activity="event"
        )
    return ana


def _form(html: str) -> dict[str, str]:
    fields = dict(re.findall(r'name="(csrf_token|offer_id|request_key)" value="([^"]*)"', html))
    assert len(fields) == 3, html
    return fields


def _balance(database: Database, tenant: Tenant, who: uuid.UUID) -> int:
    with database.read_session() as session:
        return ledger.balance(session, scope(tenant), who)


def _redemptions(database: Database) -> int:
    with database.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Redemption)) or 0)


def test_browse_redeem_and_see_the_result(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    ana = store(client, tenant, database)
    sign_in(client, database, ana)
    page = client.get("/points/marketplace")
    assert page.status_code == 200
    assert "Coffee card 25 USD" in page.text
    assert "Bier" not in page.text  # not valid in the learner's country
    assert "2,500 points" in page.text
    form = _form(page.text)

    # No CSRF token, or a wrong one: refused, nothing spent.
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post("/points/marketplace/redeem", data=no_token).status_code == 403
    wrong = form | {"csrf_token": "forged"}
    assert client.post("/points/marketplace/redeem", data=wrong).status_code == 403
    assert _balance(database, tenant, ana) == 3000

    first = client.post("/points/marketplace/redeem", data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    again = client.post("/points/marketplace/redeem", data=form, follow_redirects=False)
    assert again.headers["location"] == first.headers["location"]  # the same redemption
    assert _balance(database, tenant, ana) == 500
    assert _redemptions(database) == 1

    shown = client.get(first.headers["location"])
    assert shown.status_code == 200
    assert 'data-state="pending"' in shown.text
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    shown = client.get(first.headers["location"])
    assert 'data-state="delivered"' in shown.text

    # Not enough points left for another: said so, nothing spent.
    short = client.post(
        "/points/marketplace/redeem", data=_form(client.get("/points/marketplace").text)
    )
    assert short.status_code == 409
    assert "not have enough points" in short.text
    assert _balance(database, tenant, ana) == 500


def test_a_held_redemption_shows_the_points_returned(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    ana = store(client, tenant, database, approval_threshold={"amount": "10.00", "currency": "USD"})
    sign_in(client, database, ana)
    form = _form(client.get("/points/marketplace?lang=de").text)
    done = client.post("/points/marketplace/redeem?lang=de", data=form)
    assert done.status_code == 200
    assert 'data-state="returned"' in done.text
    assert "Punkte wurden zurückgebucht" in done.text
    assert _balance(database, tenant, ana) == 3000


def test_another_learners_redemption_is_not_found(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    ana = store(client, tenant, database)
    sign_in(client, database, ana)
    first = client.post(
        "/points/marketplace/redeem",
        data=_form(client.get("/points/marketplace").text),
        follow_redirects=False,
    )
    with database.session() as session:
        bo = add_learner(session, tenant, "B1")
    sign_in(client, database, bo)
    assert client.get(first.headers["location"]).status_code == 404


def test_a_double_submit_at_once_spends_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    if database.is_sqlite:
        pytest.skip("PostgreSQL: SQLite has one writer at a time by construction")
    ana = store(client, tenant, database)
    signed: Signed = sign_in(client, database, ana)
    form = _form(client.get("/points/marketplace").text)

    def post(_: int) -> int:
        with TestClient(client.app, cookies=signed.cookies) as other:
            got = other.post("/points/marketplace/redeem", data=form, follow_redirects=False)
            return got.status_code

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(post, range(4)))
    assert codes == [303] * 4
    assert _balance(database, tenant, ana) == 500
    assert _redemptions(database) == 1
