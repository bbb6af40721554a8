"""The FX routes as a client calls them, and the CLI as an operator runs it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.fx.samples import DAILY_CSV, zipped


def test_import_read_convert_and_fee(client: TestClient, tenant: Tenant) -> None:
    sent = client.post(
        "/api/v1/fx/rates",
        content=zipped("eurofxref.csv", DAILY_CSV),
        headers=tenant.headers | {"Content-Type": "application/zip"},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["inserted"] == 30
    rates = client.get("/api/v1/fx/rates?on=2026-11-28", headers=tenant.headers).json()
    usd = next(r for r in rates if r["quote"] == "USD")
    assert usd == usd | {"base": "EUR", "rate": "1.0450", "rate_date": "2026-11-25"}
    assert client.put("/api/v1/fx/fee", json={"fee_bps": 200}, headers=tenant.headers).json() == {
        "fee_bps": 200
    }
    answer = client.get(
        "/api/v1/fx/convert?amount=50.00&currency=EUR&to=USD&on=2026-11-26", headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "original": {"amount": "50.00", "currency": "EUR"},
        "converted": {"amount": "51.20", "currency": "USD"},
        "fee": {"amount": "1.05", "currency": "USD"},
        "rate": "1.0450",
        "rate_date": "2026-11-25",
        "source": "ecb",
    }


def test_errors_name_the_field(client: TestClient, tenant: Tenant) -> None:
    empty = client.post("/api/v1/fx/rates", content=b"", headers=tenant.headers)
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["field"] == "body"
    bad = client.get("/api/v1/fx/convert?amount=1.234&currency=USD&to=EUR", headers=tenant.headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "amount"
    missing = client.get(
        "/api/v1/fx/convert?amount=1.00&currency=USD&to=CHF", headers=tenant.headers
    )
    assert missing.status_code == 422
    assert missing.json()["error"] == "no_fx_rate"
    fee = client.put("/api/v1/fx/fee", json={"fee_bps": 5000}, headers=tenant.headers)
    assert fee.status_code == 422
    test_mode = client.post("/api/v1/fx/rates", content=DAILY_CSV, headers=tenant.test_headers)
    assert test_mode.status_code == 403


def test_cli_imports_and_converts(database: Database, tenant: Tenant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "eurofxref.csv"
    path.write_text(DAILY_CSV)
    imported = laurel("fx", "import", str(path), url=database.url)
    assert imported.returncode == 0, imported.stderr
    assert "30 rates imported" in imported.stdout
    laurel("fx", "fee", "--org", tenant.slug, "100", url=database.url)
    converted = laurel(
        "fx",
        "convert",
        "100",
        "EUR",
        "USD",
        "--org",
        tenant.slug,
        "--on",
        "2026-11-25",
        url=database.url,
    )
    assert converted.returncode == 0, converted.stderr
    assert "100.00 EUR = 103.45 USD after fee 1.05 USD" in converted.stdout
    missing = laurel("fx", "import", str(tmp_path / "nope.csv"), url=database.url)
    assert missing.returncode != 0
    assert "PATH_OR_URL" in missing.stderr
