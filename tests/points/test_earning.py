"""Earning end to end: completions through intake, the real worker and the points provider."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.points import badges, earning, ledger, openbadges
from laurel.points.models import BadgeAward, TransactionKind
from laurel.rewards.models import Reward
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.delivery.support import settle
from tests.factories import backdate_program, fixed_program
from tests.points.support import learners

POLICY: dict[str, Any] = {
    "multipliers": [{"name": "priority", "courses": ["SEC-101"], "factor": "1.5"}],
    "caps": {"month": 200},
    "streak": {"min_weeks": 2, "bonus": 25},
    "expiry_months": 24,
    "notice_days": 30,
}


def _points_program(client: TestClient, tenant: Tenant, database: Database) -> str:
    program = fixed_program(
        client, tenant, key="learning-points", amount="100", currency="PTS", reward_kind="points"
    )
    assert program["provider"] == "points"
    backdate_program(database, program["id"], datetime(2026, 1, 1, tzinfo=UTC))
    with database.session() as session:
        earning.set_policy(session, tenant.actor, uuid.UUID(program["id"]), POLICY)
    return str(program["id"])


def _complete(
    client: TestClient, tenant: Tenant, event_id: str, course: str, when: str
) -> uuid.UUID:
    body = completion(event_id, course=course, occurred_at=when)
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    assert reward["amount"] == {"amount": "100", "currency": "PTS"}
    return uuid.UUID(reward["id"])


def test_points_from_completions_with_multiplier_cap_streak_and_badges(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    _points_program(client, tenant, database)
    with database.session() as session:
        badges.create_badge(
            session,
            tenant.actor,
            key="compliance-2026",
            name="Compliance champion",
            description="Every compliance course this year",
            criteria={"kind": "all_of_type", "course_type": "compliance", "period": "year"},
        )
        badges.create_badge(
            session,
            tenant.actor,
            key="three",
            name="Three courses",
            description="",
            criteria={"kind": "count", "count": 3},
        )
    worker = Worker(database, settings, providers)
    first = _complete(client, tenant, "e1", "SEC-101", "2026-11-02T10:00:00Z")
    assert settle(database, first, worker).state == "delivered"
    second = _complete(client, tenant, "e2", "PRIV-201", "2026-11-09T10:00:00Z")
    assert settle(database, second, worker).state == "delivered"

    with database.session() as session:
        reward = session.get_one(Reward, first)
        sc = ledger.Scope(tenant.id, True)
        learner = reward.learner_id
        # 100 × 1.5 priority = 150; then 100 capped at the month's 200 → 50; 2-week streak +25.
        assert ledger.balance(session, sc, learner) == 150 + 50 + 25
        page = ledger.history(session, sc, learner, limit=10, cursor=None)
        kinds = sorted((t.kind, t.points) for t in page.items)
        assert kinds == [("bonus", 25), ("earn", 50), ("earn", 150)]
        capped = next(t for t in page.items if t.points == 50)
        assert capped.details["capped"] == "month"
        # Crediting again (a worker retry) finds the first credit.
        again = earning.credit_reward(session, first)
        assert again.posting.replayed
        assert ledger.balance(session, sc, learner) == 225
        # Both compliance courses the organization has: the yearly badge; not yet three.
        awards = badges.awards_of(session, sc, learner)
        assert [b.key for _, b in awards] == ["compliance-2026"]
        assert ledger.reconcile(session, tenant.id).ok
    # A third distinct course: the count badge; the yearly badge was awarded once this year.
    third = _complete(client, tenant, "e3", "ETH-301", "2026-11-10T10:00:00Z")
    assert settle(database, third, worker).state == "delivered"
    with database.session() as session:
        keys = sorted(b.key for _, b in badges.awards_of(session, sc, learner))
        assert keys == ["compliance-2026", "three"]
        # Same ISO week as the second completion: no new streak bonus; the month cap is spent.
        assert ledger.balance(session, sc, learner) == 225
        earned = ledger.history(session, sc, learner, limit=10, cursor=None).items
        assert [t.kind for t in earned].count(TransactionKind.bonus) == 1


def test_badge_credential_is_signed_open_badges_3(database: Database, tenant: Tenant) -> None:
    (ana,) = learners(database, tenant, 1)
    with database.session() as session:
        badge = badges.create_badge(
            session,
            tenant.actor,
            key="first",
            name="First steps",
            description="One course",
            criteria={"kind": "count", "count": 1},
        )
        award = BadgeAward(
            organization_id=tenant.id,
            livemode=True,
            badge_id=badge.id,
            learner_id=ana,
            period="ever",
            evidence={"courses": ["SEC-101"]},
        )
        session.add(award)
        session.flush()
        issuer = openbadges.Issuer(
            id=f"https://laurel.test/api/v1/points/issuers/{tenant.id}", name="Acme"
        )
        key = openbadges.load_key(None, "secret")
        body = openbadges.credential(
            award,
            badge,
            issuer,
            base_url="https://laurel.test",
            recipient_email="ana@example.com",
            recipient_name="Ana Díaz",
        )
        token = openbadges.sign(body, key, issuer)
    claims = openbadges.verify(token, key.public_key())
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["@context"][1].startswith("https://purl.imsglobal.org/spec/ob/v3p0/context")
    assert claims["credentialSubject"]["achievement"]["name"] == "First steps"
    assert claims["iss"] == issuer.id
    assert claims["jti"] == f"urn:uuid:{award.id}"
    ident = claims["credentialSubject"]["identifier"][0]
    assert ident["identityHash"] == openbadges.identity_hash("ana@example.com", ident["salt"])
    # The JOSE header carries the public key: a verifier can check without asking us.
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "EdDSA"
    assert openbadges.verify(token, openbadges.key_from_jwk(header["jwk"]))["id"] == body["id"]
    head, payload, signature = token.split(".")
    forged = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    with pytest.raises(openbadges.VerificationError):
        openbadges.verify(f"{head}.{forged}.{signature}", key.public_key())
    other = openbadges.load_key(None, "another secret")
    with pytest.raises(openbadges.VerificationError):
        openbadges.verify(token, other.public_key())


def test_test_mode_points_go_to_the_test_books(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    _points_program(client, tenant, database)
    body = completion("t1", occurred_at="2026-11-02T10:00:00Z")
    response = client.post("/api/v1/completions", json=body, headers=tenant.test_headers)
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    settled = settle(database, uuid.UUID(reward["id"]), Worker(database, settings, providers))
    assert settled.state == "delivered"
    assert settled.provider == "points"
    with database.session() as session:
        assert ledger.balance(session, ledger.Scope(tenant.id, False), settled.learner_id) == 150
        assert ledger.balance(session, ledger.Scope(tenant.id, True), settled.learner_id) == 0


def test_caps_hold_when_one_learners_rewards_are_credited_at_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """Eight of one learner's rewards credited by eight threads at once (the worker issues in
    parallel): the month cap of 200 is never exceeded."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL: SQLite has one writer at a time by construction")
    _points_program(client, tenant, database)
    courses = [f"C-{n}" for n in range(8)]
    rewards = [
        _complete(client, tenant, f"e{n}", course, "2026-11-03T10:00:00Z")
        for n, course in enumerate(courses)
    ]
    barrier = threading.Barrier(len(rewards))

    def credit(reward_id: uuid.UUID) -> int:
        barrier.wait(timeout=30)
        with database.session() as session:
            return earning.credit_reward(session, reward_id).points

    with ThreadPoolExecutor(len(rewards)) as pool:
        credited = list(pool.map(credit, rewards))
    assert sum(credited) == 200
    assert sorted(credited, reverse=True)[:2] == [100, 100]
    with database.session() as session:
        learner = session.get_one(Reward, rewards[0]).learner_id
        assert ledger.balance(session, ledger.Scope(tenant.id, True), learner) == 200
        assert ledger.reconcile(session, tenant.id).ok
