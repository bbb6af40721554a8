"""The inventory provider: uploads with precise row errors, codes sealed at rest, atomic and
idempotent allocation (also under 8 concurrent workers), expiry, the out-of-stock gate and
low-stock alerts."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.audit.models import AuditEntry
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.inventory import service
from laurel.delivery.inventory.sealing import CodeBox
from laurel.delivery.models import InventoryCode
from laurel.delivery.providers import IssueOrder, ProviderRegistry, TransientProviderError
from laurel.delivery.providers.inventory import InventoryProvider
from laurel.kit.clock import utcnow
from laurel.kit.money import Money
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.delivery.support import settle

USD25 = Money(2500, "USD")


def csv_of(*rows: str, header: str = "brand,value,currency,code,PIN,expiry") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def upload(client: TestClient, tenant: Tenant, data: bytes) -> dict[str, Any]:
    response = client.post(
        "/api/v1/inventory/codes",
        files={"file": ("codes.csv", data, "text/csv")},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(n: int, *, brand: str = "Amazon", value: str = "25.00", prefix: str = "AMZ") -> list[str]:
    expiry = (utcnow().date() + timedelta(days=365)).isoformat()
    return [f"{brand},{value},USD,{prefix}-{i:04d},{1000 + i},{expiry}" for i in range(n)]


@pytest.fixture
def box(settings: Settings) -> CodeBox:
    return CodeBox(settings.secret_key)


@pytest.fixture
def inventory(database: Database, settings: Settings) -> InventoryProvider:
    return InventoryProvider(database, settings)


def order(tenant: Tenant, key: str | None = None, amount: Money = USD25) -> IssueOrder:
    return IssueOrder(
        idempotency_key=key or str(uuid.uuid4()),
        organization_id=tenant.id,
        amount=amount,
        reward_kind="gift_card",
        livemode=True,
        recipient_email=None,
        recipient_name=None,
        locale=None,
    )


def test_upload_keeps_valid_rows_and_reports_every_bad_one_precisely(
    client: TestClient, tenant: Tenant, database: Database, box: CodeBox
) -> None:
    future = (utcnow().date() + timedelta(days=30)).isoformat()
    past = (utcnow().date() - timedelta(days=1)).isoformat()
    data = csv_of(
        f"Amazon,25.00,USD,AMZ-1,1111,{future}",
        f"Amazon,25.00,usd,AMZ-2,,{future}",
        "Amazon,25.001,USD,AMZ-3,,",
        "Amazon,25.00,XYZ,AMZ-4,,",
        ",25.00,USD,AMZ-5,,",
        "Amazon,25.00,USD,,,",
        "Amazon,25.00,USD,AMZ-6,,31/12/2027",
        f"Amazon,25.00,USD,AMZ-7,,{past}",
        "Amazon,25.00,USD,amz-1,,",
        "Target,0,USD,TGT-1,,",
        "",
        "Target,10.00,USD,TGT-2,,",
    )
    body = upload(client, tenant, data)

    assert body["rows"] == 11
    assert body["stored"] == 3
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (4, "value"),
        (5, "currency"),
        (6, "brand"),
        (7, "code"),
        (8, "expiry"),
        (9, "expiry"),
        (10, "code"),
        (11, "value"),
    ]
    messages = {e["row"]: e["message"] for e in body["errors"]}
    assert messages[4] == "USD has 2 decimal places; '25.001' has 3"
    assert messages[5] == "'XYZ' is not an ISO 4217 code"
    assert messages[8] == "'31/12/2027' is not a date (YYYY-MM-DD)"
    assert messages[9] == f"the code expired on {past}"
    assert messages[10] == "the same code as row 2"  # case and spacing do not make a new code
    assert messages[11] == "must be more than zero"
    stock = {(s["brand"], s["value"]["amount"]): s["available"] for s in body["stock"]}
    assert stock == {("Amazon", "25.00"): 2, ("Target", "10.00"): 1}

    again = upload(
        client, tenant, csv_of(f"Amazon,25.00,USD,AMZ-2,,{future}", "Lego,5.00,USD,L1,,")
    )
    assert again["stored"] == 1
    assert again["errors"] == [
        {"row": 2, "column": "code", "message": "this code was uploaded before"}
    ]

    with database.session() as session:
        rows = session.scalars(select(InventoryCode).order_by(InventoryCode.created_at)).all()
    assert len(rows) == 4
    for row in rows:
        assert "AMZ" not in row.code_sealed
        assert "TGT" not in row.code_sealed
        assert row.code_hash == box.code_hash(tenant.id, box.open(row.code_sealed))
    first = next(r for r in rows if box.open(r.code_sealed) == "AMZ-1")
    assert first.pin_sealed is not None
    assert box.open(first.pin_sealed) == "1111"
    assert "1111" not in first.pin_sealed


def test_a_file_without_the_required_columns_is_refused_whole(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.post(
        "/api/v1/inventory/codes",
        files={"file": ("codes.csv", b"brand,amount,code\nA,1.00,X\n", "text/csv")},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["field"] == "file"
    assert problem["message"].startswith("missing column(s) value, currency;")
    test_key = client.post(
        "/api/v1/inventory/codes",
        files={"file": ("codes.csv", csv_of(*codes(1)), "text/csv")},
        headers=tenant.test_headers,
    )
    assert test_key.status_code == 403


def test_allocation_is_idempotent_and_skips_expired_codes(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    inventory: InventoryProvider,
) -> None:
    upload(client, tenant, csv_of(*codes(2)))
    with database.session() as session:  # one code expires (set-up: uploads refuse the past)
        session.execute(
            update(InventoryCode)
            .where(InventoryCode.code_hash == inventory.box.code_hash(tenant.id, "AMZ-0000"))
            .values(
                expires_on=utcnow().date() - timedelta(days=1),
                use_by=utcnow().date() - timedelta(days=1),
            )
        )
    key = str(uuid.uuid4())

    first = inventory.issue(order(tenant, key))
    again = inventory.issue(order(tenant, key))
    found = inventory.lookup(key)

    assert first.details["code"] == "AMZ-0001"  # the expired AMZ-0000 is never handed out
    assert first.details["pin"] == "1001"
    assert again == first
    assert found == first
    assert inventory.lookup(str(uuid.uuid4())) is None
    with pytest.raises(TransientProviderError, match=r"no 25.00 USD code in stock") as caught:
        inventory.issue(order(tenant))
    assert caught.value.retry_after
    assert caught.value.retry_after > 0


def test_eight_concurrent_workers_never_hand_out_a_code_twice(
    client: TestClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    upload(client, tenant, csv_of(*codes(30)))
    providers = [InventoryProvider(database, settings) for _ in range(8)]
    keys = [str(uuid.uuid4()) for _ in range(40)]
    shared = keys[:5]  # every worker also asks for these five: one code each, whoever asks
    results: list[tuple[str, str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(n: int, provider: InventoryProvider) -> None:
        start.wait()
        mine = shared + keys[5 + n * 5 : 10 + n * 5]
        for key in mine:
            try:
                issued = provider.issue(order(tenant, key))
            except TransientProviderError:
                continue
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                continue
            with lock:
                results.append((key, issued.details["code"]))

    threads = [threading.Thread(target=work, args=(n, p)) for n, p in enumerate(providers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert failures == []
    by_key: dict[str, set[str]] = {}
    for key, code in results:
        by_key.setdefault(key, set()).add(code)
    assert all(len(found) == 1 for found in by_key.values())  # one code per reward, always
    handed = [next(iter(found)) for found in by_key.values()]
    assert len(handed) == len(set(handed)) == 30  # 40 rewards, 30 codes: each code once
    assert set(shared) <= set(by_key)
    with database.session() as session:
        allocated = session.scalars(
            select(InventoryCode.allocated_to).where(InventoryCode.allocated_to.is_not(None))
        ).all()
    assert sorted(str(k) for k in allocated) == sorted(by_key)


@pytest.fixture
def inventory_program(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    from tests.factories import fixed_program

    return fixed_program(
        client,
        tenant,
        amount="25.00",
        provider="inventory",
        budget={"amount": "1000.00", "currency": "USD"},
    )


def _send(client: TestClient, tenant: Tenant, n: int) -> uuid.UUID:
    response = client.post(
        "/api/v1/completions",
        json=completion(f"lms-{n}", learner=f"E{n}"),
        headers=tenant.headers,
    )
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["rewards"][0]["id"])


def _reward(client: TestClient, tenant: Tenant, reward_id: uuid.UUID) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    return body


def test_out_of_stock_holds_rewards_alerts_and_an_upload_releases_them(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    inventory_program: dict[str, Any],
) -> None:
    upload(client, tenant, csv_of(*codes(2)))
    client.put(
        "/api/v1/inventory/thresholds",
        json={"brand": "Amazon", "value": {"amount": "25.00", "currency": "USD"}, "threshold": 2},
        headers=tenant.headers,
    ).raise_for_status()
    ids = [_send(client, tenant, n) for n in range(3)]
    states = [_reward(client, tenant, i)["state"] for i in ids]
    assert states == ["ready", "ready", "held"]
    held = _reward(client, tenant, ids[2])
    assert [h["reason"] for h in held["hold_reasons"]] == ["out_of_stock"]

    worker = Worker(database, settings, providers)
    first = settle(database, ids[0], worker)
    second = settle(database, ids[1], worker)
    assert first.state == second.state == "delivered"
    assert first.provider == "inventory"
    delivered = {_reward(client, tenant, i)["delivery"]["details"]["code"] for i in ids[:2]}
    assert delivered == {"AMZ-0000", "AMZ-0001"}

    (level,) = client.get("/api/v1/inventory/stock", headers=tenant.headers).json()
    assert (level["available"], level["allocated"], level["threshold"], level["low"]) == (
        0,
        2,
        2,
        True,
    )
    metrics = client.get("/metrics").text
    labels = f'brand="Amazon",currency="USD",organization="{tenant.id}",value_minor="2500"'
    assert f"laurel_inventory_low_stock{{{labels}}} 1.0" in metrics
    assert f"laurel_inventory_codes_available{{{labels}}} 0.0" in metrics
    with database.session() as session:
        alerts = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.like("inventory:stock:%"))
            .order_by(AuditEntry.seq)
        ).all()
    # Two codes are under the default threshold (10): low; a threshold of 2 clears it; the
    # two allocations cross it once, so one more entry, not one per allocation.
    assert alerts == ["inventory:stock:low", "inventory:stock:replenished", "inventory:stock:low"]

    more = upload(client, tenant, csv_of(*codes(3, prefix="NEW")))
    assert more["released"] == 1
    assert _reward(client, tenant, ids[2])["state"] == "ready"
    third = settle(database, ids[2], worker)
    assert third.state == "delivered"
    assert _reward(client, tenant, ids[2])["delivery"]["details"]["code"].startswith("NEW-")
    (level,) = client.get("/api/v1/inventory/stock", headers=tenant.headers).json()
    assert (level["available"], level["low"]) == (2, False)
    with database.session() as session:
        alerts = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.like("inventory:stock:%"))
            .order_by(AuditEntry.seq)
        ).all()
    assert alerts[3:] == ["inventory:stock:replenished"]


def test_a_batch_is_held_beyond_the_stock_in_one_intake(
    client: TestClient, tenant: Tenant, inventory_program: dict[str, Any]
) -> None:
    upload(client, tenant, csv_of(*codes(2)))
    events = [completion(f"b-{n}", learner=f"B{n}") for n in range(4)]
    response = client.post(
        "/api/v1/completions/batch", json={"events": events}, headers=tenant.headers
    )
    assert response.status_code in (200, 202), response.text
    listed = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    states = sorted(r["state"] for r in listed)
    assert states == ["held", "held", "ready", "ready"]


def test_catalog_and_balance_show_what_is_in_stock(
    client: TestClient, tenant: Tenant, inventory: InventoryProvider
) -> None:
    upload(
        client,
        tenant,
        csv_of(
            *codes(2),
            *codes(1, value="50.00", prefix="B"),
            *codes(3, brand="Lego", value="10.00", prefix="L"),
        ),
    )
    offers = inventory.catalog(tenant.id)
    assert [(o.sku, o.currency, o.fixed_values_minor) for o in offers] == [
        ("Amazon", "USD", (2500, 5000)),
        ("Lego", "USD", (1000,)),
    ]
    assert all(o.provider == "inventory" and o.kind == "gift_card" for o in offers)
    assert inventory.catalog() == []  # codes are one organization's: never another's brands
    balance = {b.account: b.available for b in inventory.balance(tenant.id)}
    assert balance == {"Amazon": Money(10000, "USD"), "Lego": Money(3000, "USD")}
    chosen = inventory.issue(
        IssueOrder(
            idempotency_key=str(uuid.uuid4()),
            organization_id=tenant.id,
            amount=Money(1000, "USD"),
            reward_kind="gift_card",
            livemode=True,
            recipient_email=None,
            recipient_name=None,
            locale=None,
            sku="Lego",
        )
    )
    assert chosen.details["brand"] == "Lego"
    assert service.today() == utcnow().date()


def test_concurrent_intakes_never_promise_the_last_codes_twice(
    client: TestClient, tenant: Tenant, inventory_program: dict[str, Any]
) -> None:
    upload(client, tenant, csv_of(*codes(3)))
    start = threading.Barrier(8)
    answers: list[int] = []

    def send(n: int) -> None:
        start.wait()
        response = client.post(
            "/api/v1/completions",
            json=completion(f"c-{n}", learner=f"C{n}"),
            headers=tenant.headers,
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert answers == [202] * 8
    listed = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    assert sorted(r["state"] for r in listed) == ["held"] * 5 + ["ready"] * 3


def test_cli_upload_reports_rows_and_stock(
    database: Database, tenant: Tenant, tmp_path: Any
) -> None:
    from tests.cli.test_commands import laurel

    path = tmp_path / "codes.csv"
    path.write_bytes(csv_of(*codes(2), "Amazon,25.00,USD,,,"))
    result = laurel("inventory", "upload", str(path), "--org", tenant.slug, url=database.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2 of 3 codes stored, 1 rows rejected; 0 held rewards released\n"
    assert result.stderr == "row 4, code: is empty\n"
    again = laurel("inventory", "upload", str(path), "--org", tenant.slug, url=database.url)
    assert again.stdout.startswith("0 of 3 codes stored, 3 rows rejected")
    stock = laurel("inventory", "stock", "--org", tenant.slug, url=database.url)
    assert stock.stdout == (
        "Amazon  25.00 USD  available 2  allocated 0  expired 0  threshold 10  LOW\n"
    )
    unknown = laurel("inventory", "upload", str(path), "--org", "nope", url=database.url)
    assert unknown.returncode == 2
    assert "no organization 'nope'" in unknown.stderr


def test_expired_stock_holds_and_test_mode_never_touches_the_inventory(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    inventory_program: dict[str, Any],
) -> None:
    upload(client, tenant, csv_of(*codes(1)))
    with database.session() as session:  # the one code expires (set-up: uploads refuse the past)
        yesterday = utcnow().date() - timedelta(days=1)
        session.execute(update(InventoryCode).values(expires_on=yesterday, use_by=yesterday))
    live = _send(client, tenant, 1)
    rehearsal = client.post(
        "/api/v1/completions", json=completion("t-1", learner="T1"), headers=tenant.test_headers
    )
    test_reward = rehearsal.json()["rewards"][0]

    assert _reward(client, tenant, live)["state"] == "held"
    assert test_reward["state"] == "ready"  # test mode: sandbox, no stock needed
    (level,) = client.get("/api/v1/inventory/stock", headers=tenant.headers).json()
    assert (level["available"], level["expired"]) == (0, 1)
