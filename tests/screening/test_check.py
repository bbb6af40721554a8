"""Manual checks: POST /api/v1/screening/check and `laurel screen`."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.screening.models import ScreeningResult
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.screening.support import BANCO_NACIONAL, HANIYEH, PUTIN, sample_folder
from tests.screening.test_gate import import_lists


def test_check_answers_matches_at_or_above_threshold(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    import_lists(database, sample_folder(tmp_path / "ofac"))
    answer = client.post(
        "/api/v1/screening/check", json={"name": "Путин Владимир"}, headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"] == "review"
    assert body["list_version"] is not None
    [match] = body["matches"]
    assert (match["list"], match["entry_id"]) == ("SDN", str(PUTIN))
    assert match["programs"] == ["RUSSIA-EO14024"]
    assert body["threshold"] <= match["score"] <= 1
    entity = client.post(
        "/api/v1/screening/check", json={"name": "Banco Nacional de Cuba"}, headers=tenant.headers
    ).json()
    assert entity["matches"][0]["entry_id"] == str(BANCO_NACIONAL)
    assert entity["matches"][0]["type"] == "entity"
    clear = client.post(
        "/api/v1/screening/check",
        json={"name": "Ana Díaz", "country": "mx"},
        headers=tenant.headers,
    ).json()
    assert (clear["decision"], clear["matches"], clear["country_hit"]) == ("clear", [], None)
    region = client.post(
        "/api/v1/screening/check",
        json={"name": "Ana Díaz", "country": "UA-43"},
        headers=tenant.headers,
    ).json()
    assert (region["decision"], region["country_hit"]) == ("review", "UA-43")
    with database.read_session() as session:
        stored = session.execute(
            select(
                ScreeningResult.decision, ScreeningResult.reward_id, ScreeningResult.actor
            ).order_by(ScreeningResult.id)
        ).all()
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "screening:name:check")
        ).all()
    assert [r.decision for r in stored] == ["review", "review", "clear", "review"]
    assert all(r.reward_id is None and r.actor.startswith("apikey:") for r in stored)
    assert len(actions) == 4


def test_check_refuses_bad_input_by_field(client: TestClient, tenant: Tenant) -> None:
    bad_country = client.post(
        "/api/v1/screening/check", json={"name": "Ana", "country": "Iran"}, headers=tenant.headers
    )
    assert bad_country.status_code == 422
    assert bad_country.json()["detail"][0]["field"] == "country"
    blank = client.post("/api/v1/screening/check", json={"name": "  "}, headers=tenant.headers)
    assert blank.status_code == 422
    assert blank.json()["detail"][0]["field"] == "name"
    missing = client.post("/api/v1/screening/check", json={}, headers=tenant.headers)
    assert missing.json()["detail"][0]["field"] == "name"
    unknown = client.post(
        "/api/v1/screening/check", json={"name": "A", "dob": "1962"}, headers=tenant.headers
    )
    assert unknown.status_code == 422


def test_check_before_any_list_is_unscreened_but_checks_the_country(
    client: TestClient, tenant: Tenant
) -> None:
    body = client.post(
        "/api/v1/screening/check", json={"name": "Ismail Haniyeh"}, headers=tenant.headers
    ).json()
    assert (body["decision"], body["list_version"], body["matches"]) == ("unscreened", None, [])
    iran = client.post(
        "/api/v1/screening/check",
        json={"name": "Ana Díaz", "country": "IR"},
        headers=tenant.headers,
    ).json()
    assert (iran["decision"], iran["country_hit"]) == ("review", "IR")


def test_cli_screen_json_and_text(database: Database, tenant: Tenant, tmp_path: Path) -> None:
    import_lists(database, sample_folder(tmp_path / "ofac"))
    result = laurel("screen", "HANIYAH, Ismael", "--json", url=database.url)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["decision"] == "review"
    assert str(HANIYEH) in [m["entry_id"] for m in body["matches"]]
    assert {m["list"] for m in body["matches"]} <= {"SDN", "CONS"}
    text = laurel("screen", "Ana Díaz", "--country", "IR", "--org", tenant.slug, url=database.url)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("REVIEW (list version")
    assert "country IR is comprehensively sanctioned" in text.stdout
    bad = laurel("screen", "Ana", "--country", "Iran", url=database.url)
    assert bad.returncode == 2
    assert "--country: must be an ISO 3166-1 alpha-2 code" in bad.stderr
