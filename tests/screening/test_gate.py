"""The screening gate end to end: completions in, holds, review cases, clear and confirm."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.config import get_settings
from laurel.db import Database
from laurel.learners.models import Learner
from laurel.screening import cases, service, sources
from laurel.screening.models import ReviewCase, SanctionsReport, ScreeningResult
from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.screening.support import HANIYEH, PUTIN, sample_folder


def import_lists(database: Database, folder: Path) -> int:
    """Import like `laurel sdn import` does; returns how many held rewards were re-screened."""
    fetched = sources.fetch(str(folder))
    with database.session() as session:
        outcome = service.store_version(session, fetched, actor="test")
        return cases.rescreen_held(session, "test") if outcome.created else 0


def earn(
    client: TestClient,
    tenant: Tenant,
    event: str,
    *,
    name: str,
    learner: str = "E1",
    country: str = "US",
    course: str = "SEC-101",
    test_mode: bool = False,
) -> dict[str, Any]:
    body = completion(event, learner=learner, course=course)
    body["learner"].update(name=name, country=country)
    headers = tenant.test_headers if test_mode else tenant.headers
    response = client.post("/api/v1/completions", headers=headers, json=body)
    assert response.status_code == 202, response.text
    reward: dict[str, Any] = response.json()["rewards"][0]
    return reward


def reasons(reward: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in reward["hold_reasons"]]


def open_cases(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/screening/cases?status=open", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


@pytest.fixture
def lists(database: Database, tmp_path: Path) -> Path:
    folder = sample_folder(tmp_path / "ofac")
    import_lists(database, folder)
    return folder


@pytest.fixture
def hold_without_list(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LAUREL_SCREENING_WITHOUT_LIST", "hold")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_listed_name_is_held_with_a_case_showing_the_entry(
    client: TestClient, tenant: Tenant, lists: Path
) -> None:
    fixed_program(client, tenant)
    reward = earn(client, tenant, "e-1", name="Ismaïl Haniyah")
    assert reward["state"] == "held"
    assert reasons(reward) == ["screening_review"]
    assert "HANIYEH, Ismail" in reward["hold_reasons"][0]["message"]
    [case] = open_cases(client, tenant)
    assert case["reward_id"] == reward["id"]
    assert case["query_name"] == "Ismaïl Haniyah"
    assert case["score"] >= get_settings().screening_threshold
    best = case["matches"][0]
    assert (best["list"], best["entry_id"], best["name"]) == (
        "SDN",
        str(HANIYEH),
        "HANIYEH, Ismail",
    )
    assert best["programs"] == ["SDGT"]
    assert best["remarks"].startswith("DOB 1962; POB Shati refugee camp")
    assert {m["list"] for m in case["matches"]} == {"SDN", "CONS"}
    assert all(m["score"] >= case["threshold"] for m in case["matches"])


def test_clear_lets_the_reward_continue_to_delivery(
    client: TestClient, tenant: Tenant, database: Database, lists: Path
) -> None:
    fixed_program(client, tenant)
    reward = earn(client, tenant, "e-1", name="Vladimir Putin")
    [case] = open_cases(client, tenant)
    no_reason = client.post(
        f"/api/v1/screening/cases/{case['id']}/clear", json={"reason": ""}, headers=tenant.headers
    )
    assert no_reason.status_code == 422
    cleared = client.post(
        f"/api/v1/screening/cases/{case['id']}/clear",
        json={"reason": "different person: born 1988 in Ohio"},
        headers=tenant.headers,
    )
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert body["status"] == "cleared"
    assert body["reviewer"].startswith("apikey:")
    assert body["reason"] == "different person: born 1988 in Ohio"
    assert (
        client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()["state"]
        == "ready"
    )
    twice = client.post(
        f"/api/v1/screening/cases/{case['id']}/confirm",
        json={"reason": "x"},
        headers=tenant.headers,
    )
    assert twice.status_code == 409
    assert twice.json()["error"] == "screening_case_decided"
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    view = client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()
    assert view["state"] == "delivered"
    # The pipeline re-ran on clearing; the reward was screened once all the same.
    with database.read_session() as session:
        results = session.scalars(select(ScreeningResult.decision)).all()
    assert results == ["review"]


def test_confirm_cancels_blocks_the_learner_and_keeps_a_report(
    client: TestClient, tenant: Tenant, database: Database, lists: Path
) -> None:
    fixed_program(client, tenant)
    first = earn(client, tenant, "e-1", name="Ismail Haniyeh", course="SEC-101")
    second = earn(client, tenant, "e-2", name="Ismail Haniyeh", course="SEC-102")
    assert reasons(second) == ["screening_review"]
    case = next(c for c in open_cases(client, tenant) if c["reward_id"] == first["id"])
    confirmed = client.post(
        f"/api/v1/screening/cases/{case['id']}/confirm",
        json={"reason": "same DOB and place of birth"},
        headers=tenant.headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "confirmed"
    report = body["report"]
    assert report["details"]["matches"][0]["entry_id"] == str(HANIYEH)
    assert report["details"]["reward"]["amount_minor"] == 2500
    assert report["due_at"] > body["decided_at"]
    cancelled = client.get(f"/api/v1/rewards/{first['id']}", headers=tenant.headers).json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["last_error"] == "sanctions match confirmed by a reviewer"
    # The learner's other waiting reward now waits on the block, and so does a new one.
    other = client.get(f"/api/v1/rewards/{second['id']}", headers=tenant.headers).json()
    assert reasons(other) == ["screening_blocked"]
    later = earn(client, tenant, "e-3", name="Ismail Haniyeh", course="SEC-103")
    assert later["state"] == "held"
    assert reasons(later) == ["screening_blocked"]
    with database.read_session() as session:
        learner = session.scalar(select(Learner).where(Learner.external_id == "E1"))
        assert learner is not None
        assert learner.screening_blocked_at is not None
        assert session.scalar(select(func.count()).select_from(SanctionsReport)) == 1


def test_ordinary_names_pass_and_every_result_is_stored(
    client: TestClient, tenant: Tenant, database: Database, lists: Path
) -> None:
    fixed_program(client, tenant)
    for n, name in enumerate(["Ana Díaz", "John Smith", "Mary Johnson", "Wei Chen"]):
        reward = earn(client, tenant, f"e-{n}", name=name, learner=f"L{n}")
        assert reward["state"] == "ready", (name, reward["hold_reasons"])
    with database.read_session() as session:
        decisions = session.scalars(select(ScreeningResult.decision)).all()
        versions = set(session.scalars(select(ScreeningResult.list_version_id)).all())
    assert decisions == ["clear"] * 4
    assert len(versions) == 1
    assert None not in versions
    assert open_cases(client, tenant) == []


@pytest.mark.parametrize("country", ["IR", "CU", "KP", "SY", "UA-43"])
def test_sanctioned_country_always_holds_even_without_a_list(
    client: TestClient, tenant: Tenant, country: str
) -> None:
    fixed_program(client, tenant)
    body = completion("e-1")
    body["learner"]["country"] = country
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    if len(country) > 2:
        # Learner records take ISO 3166-1 alpha-2 only: a region cannot be recorded there.
        assert response.status_code == 422
        return
    reward = response.json()["rewards"][0]
    assert reasons(reward) == ["screening_review"]
    assert (
        f"country {country} is comprehensively sanctioned" in reward["hold_reasons"][0]["message"]
    )
    [case] = open_cases(client, tenant)
    assert case["country_hit"] == country
    assert case["list_version"] is None


def test_no_list_passes_by_default_and_holds_when_configured(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    tmp_path: Path,
    hold_without_list: None,
) -> None:
    fixed_program(client, tenant)
    listed = earn(client, tenant, "e-1", name="Ismail Haniyeh", learner="A")
    ordinary = earn(client, tenant, "e-2", name="Ana Díaz", learner="B")
    for reward in (listed, ordinary):
        assert reasons(reward) == ["screening_unavailable"]
    # The first import re-screens both: one possible match, one clear.
    assert import_lists(database, sample_folder(tmp_path / "ofac")) == 2
    after = {
        r["id"]: r for r in client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    }
    assert reasons(after[listed["id"]]) == ["screening_review"]
    assert after[ordinary["id"]]["state"] == "ready"


def test_default_without_list_passes_with_an_unscreened_result(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    assert earn(client, tenant, "e-1", name="Ismail Haniyeh")["state"] == "ready"
    with database.read_session() as session:
        assert session.scalars(select(ScreeningResult.decision)).all() == ["unscreened"]


def test_new_list_rescreens_held_rewards(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path, lists: Path
) -> None:
    fixed_program(client, tenant)
    reward = earn(client, tenant, "e-1", name="Ismail Haniyeh")
    assert reasons(reward) == ["screening_review"]
    # A newer list where he is still listed: the case stays open, on the newer version.
    still = sample_folder(tmp_path / "still", sdn=[HANIYEH, PUTIN], consolidated=())
    assert import_lists(database, still) == 1
    [case] = open_cases(client, tenant)
    newest = client.get("/api/v1/screening/lists", headers=tenant.headers).json()[0]
    assert case["list_version"] == newest["id"]
    # Delisted in the next one: the case closes as superseded and the reward moves on.
    delisted = sample_folder(tmp_path / "delisted", sdn=[PUTIN], consolidated=())
    assert import_lists(database, delisted) == 1
    assert open_cases(client, tenant) == []
    view = client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()
    assert view["state"] == "ready"
    with database.read_session() as session:
        statuses = session.scalars(select(ReviewCase.status)).all()
        screened = session.scalar(select(func.count()).select_from(ScreeningResult))
    assert statuses == ["superseded"]
    assert screened == 3  # once per list version


def test_recheck_is_idempotent(
    client: TestClient, tenant: Tenant, database: Database, lists: Path
) -> None:
    fixed_program(client, tenant)
    reward = earn(client, tenant, "e-1", name="Ismail Haniyeh")
    for _ in range(2):
        again = client.post(f"/api/v1/rewards/{reward['id']}/recheck", headers=tenant.headers)
        assert again.status_code == 200
        assert reasons(again.json()) == ["screening_review"]
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(ScreeningResult)) == 1
        assert session.scalar(select(func.count()).select_from(ReviewCase)) == 1


def test_test_mode_rewards_are_screened_and_cases_kept_apart(
    client: TestClient, tenant: Tenant, lists: Path
) -> None:
    fixed_program(client, tenant)
    reward = earn(client, tenant, "e-1", name="Ismail Haniyeh", test_mode=True)
    assert reasons(reward) == ["screening_review"]
    assert open_cases(client, tenant) == []  # live key: live cases only
    test_cases = client.get("/api/v1/screening/cases", headers=tenant.test_headers).json()["data"]
    assert [c["reward_id"] for c in test_cases] == [reward["id"]]
    missing = client.get(f"/api/v1/screening/cases/{test_cases[0]['id']}", headers=tenant.headers)
    assert missing.status_code == 404


def test_newer_list_from_another_process_is_built_in_the_background(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path, lists: Path
) -> None:
    fixed_program(client, tenant)
    earn(client, tenant, "e-0", name="Ismail Haniyeh", learner="L0")  # builds the first index
    # Another process imports a newer list: this process has not built its index.
    newer = sample_folder(tmp_path / "newer", sdn=[HANIYEH, PUTIN], consolidated=())
    with database.session() as session:
        stored = service.store_version(session, sources.fetch(str(newer)), actor="test")
    first = earn(client, tenant, "e-1", name="Vladimir Putin", learner="L1")
    assert reasons(first) == ["screening_review"]
    for thread in threading.enumerate():
        if thread.name == "laurel-screening-index":
            thread.join(timeout=60)
    second = earn(client, tenant, "e-2", name="Vladimir Putin", learner="L2")
    assert reasons(second) == ["screening_review"]
    with database.read_session() as session:
        rows = session.execute(
            select(ScreeningResult.reward_id, ScreeningResult.list_version_id)
        ).all()
    used = {row.reward_id: row.list_version_id for row in rows}
    # The request did not wait for the newer index: it used the one it had, and said so.
    assert used[uuid.UUID(first["id"])] != stored.version.id
    assert used[uuid.UUID(second["id"])] == stored.version.id


def test_two_reviewers_deciding_at_once_one_wins(
    client: TestClient, tenant: Tenant, database: Database, lists: Path
) -> None:
    fixed_program(client, tenant)
    earn(client, tenant, "e-1", name="Ismail Haniyeh")
    [case] = open_cases(client, tenant)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(action: str) -> None:
        start.wait()
        try:
            with database.session() as session:
                getattr(cases, action)(session, tenant.actor, uuid.UUID(case["id"]), "checked")
            outcomes.append(action)
        except cases.CaseDecided:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(a,)) for a in ("clear", "confirm")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes)[-1] == "conflict"
    assert len(outcomes) == 2
    winner = outcomes[0] if outcomes[0] != "conflict" else outcomes[1]
    view = client.get(f"/api/v1/screening/cases/{case['id']}", headers=tenant.headers).json()
    assert view["status"] == {"clear": "cleared", "confirm": "confirmed"}[winner]


def test_a_cleared_finding_is_not_reviewed_again_for_the_same_learner(
    client: TestClient, tenant: Tenant, lists: Path
) -> None:
    fixed_program(client, tenant)
    first = earn(client, tenant, "e-1", name="Vladimir Putin", course="SEC-101")
    [case] = open_cases(client, tenant)
    client.post(
        f"/api/v1/screening/cases/{case['id']}/clear",
        json={"reason": "a namesake: our Vladimir Putin is a sales engineer in Ohio"},
        headers=tenant.headers,
    )
    second = earn(client, tenant, "e-2", name="Vladimir Putin", course="SEC-102")
    assert second["state"] == "ready"
    listed = client.get("/api/v1/screening/cases?status=cleared", headers=tenant.headers).json()
    reused = next(c for c in listed["data"] if c["reward_id"] == second["id"])
    assert reused["reviewer"] == "gate:screening"
    assert reused["reason"].startswith(f"cleared as in case {case['id']} by apikey:")
    assert reused["matches"][0]["entry_id"] == str(PUTIN)
    # Another learner with that name, or the same learner with something new, is reviewed.
    other = earn(client, tenant, "e-3", name="Vladimir Putin", learner="E2")
    assert reasons(other) == ["screening_review"]
    moved = earn(client, tenant, "e-4", name="Vladimir Putin", course="SEC-103", country="IR")
    assert reasons(moved) == ["screening_review"]
    assert first["state"] == "held"


def test_unblocking_a_learner_rechecks_rewards_held_for_the_block(
    client: TestClient, tenant: Tenant, lists: Path
) -> None:
    fixed_program(client, tenant)
    earn(client, tenant, "e-1", name="Ismail Haniyeh", course="SEC-101")
    [case] = open_cases(client, tenant)
    client.post(
        f"/api/v1/screening/cases/{case['id']}/confirm",
        json={"reason": "same DOB"},
        headers=tenant.headers,
    )
    later = earn(client, tenant, "e-2", name="Ismail Haniyeh", course="SEC-102")
    assert reasons(later) == ["screening_blocked"]
    learner = case["learner_id"]
    url = f"/api/v1/screening/learners/{learner}/unblock"
    assert client.post(url, json={"reason": ""}, headers=tenant.headers).status_code == 422
    lifted = client.post(url, json={"reason": "confirmed in error"}, headers=tenant.headers)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json() == {"rechecked": 1}
    # Back through the gate: screened again, so the possible match is reviewed again.
    view = client.get(f"/api/v1/rewards/{later['id']}", headers=tenant.headers).json()
    assert reasons(view) == ["screening_review"]
    again = client.post(url, json={"reason": "twice"}, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["error"] == "learner_not_blocked"
