"""The audit trail: every step recorded in the same transaction, tampering detected."""

from __future__ import annotations

import os
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import text

from laurel.audit import service as audit
from laurel.db import Database
from tests.audit.tamper import as_attacker
from tests.conftest import Tenant, completion
from tests.factories import fixed_program


def _flow(client: TestClient, tenant: Tenant) -> str:
    fixed_program(client, tenant)
    event = client.post("/api/v1/completions", json=completion(), headers=tenant.headers).json()
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    return str(event["rewards"][0]["id"])


def test_every_step_is_recorded(client: TestClient, tenant: Tenant) -> None:
    reward_id = _flow(client, tenant)
    entries = client.get("/api/v1/audit", headers=tenant.headers, params={"limit": 1000}).json()
    actions = [e["action"] for e in reversed(entries)]
    for expected in [
        "organizations:organization:create",
        "auth:apikey:create",
        "programs:program:create",
        "programs:rule:create",
        "learners:learner:create",
        "courses:course:create",
        "events:completion:receive",
        "rewards:reward:create",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:delivered",
    ]:
        assert expected in actions
    trail = [e for e in reversed(entries) if e["target_id"] == reward_id]
    assert [e["action"] for e in trail] == [
        "rewards:reward:create",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:delivered",
    ]
    assert trail[-1]["actor"] == "worker"
    assert trail[1]["details"]["from"] == "pending"
    seqs = [e["seq"] for e in reversed(entries)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_rolled_back_request_leaves_no_entry(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    client.post("/api/v1/completions", json=completion("e-1"), headers=tenant.headers)
    with database.sessionmaker() as session:
        before = audit.verify_chain(session, tenant.id).entries
    conflict = client.post(
        "/api/v1/completions", headers=tenant.headers, json=completion("e-1") | {"score": 0.1}
    )
    assert conflict.status_code == 409
    with database.sessionmaker() as session:
        result = audit.verify_chain(session, tenant.id)
    assert result.ok
    assert result.entries == before


def test_verify_ok_then_detects_altered_row(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _flow(client, tenant)
    verified = client.post("/api/v1/audit/verify", headers=tenant.headers).json()
    assert verified["ok"] is True
    assert verified["entries"] > 10
    with as_attacker(database) as conn:
        conn.execute(
            text(
                "UPDATE audit_entries SET actor = 'someone-else' "
                "WHERE organization_id = :org AND seq = 7"
            ),
            {"org": tenant.id.hex if database.is_sqlite else tenant.id},
        )
    broken = client.post("/api/v1/audit/verify", headers=tenant.headers).json()
    assert broken == {
        "ok": False,
        "entries": 6,
        "broken_seq": 7,
        "reason": "content does not match its hash (the row was altered)",
    }


def test_verify_detects_removed_rows(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _flow(client, tenant)
    org = tenant.id.hex if database.is_sqlite else tenant.id
    with as_attacker(database) as conn:
        conn.execute(
            text("DELETE FROM audit_entries WHERE organization_id = :org AND seq = 3"), {"org": org}
        )
    with database.sessionmaker() as session:
        middle = audit.verify_chain(session, tenant.id)
    assert (middle.ok, middle.broken_seq) == (False, 3)
    with as_attacker(database) as conn:
        last = conn.execute(
            text("SELECT max(seq) FROM audit_entries WHERE organization_id = :org"), {"org": org}
        ).scalar_one()
        conn.execute(
            text("DELETE FROM audit_entries WHERE organization_id = :org AND seq >= 3"),
            {"org": org},
        )
    with database.sessionmaker() as session:
        tail = audit.verify_chain(session, tenant.id)
    assert not tail.ok
    assert tail.reason is not None
    assert f"records {last} entries" in tail.reason


def test_cli_verify_reports_first_broken_link(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _flow(client, tenant)
    env = os.environ | {"LAUREL_DATABASE_URL": database.url}
    command = [sys.executable, "-m", "laurel", "audit", "verify"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("acme: ok,")
    with as_attacker(database) as conn:
        conn.execute(
            text("UPDATE audit_entries SET details = :d WHERE organization_id = :org AND seq = 5"),
            {"d": '{"forged": true}', "org": tenant.id.hex if database.is_sqlite else tenant.id},
        )
    broken = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert broken.returncode == 1
    assert "acme: BROKEN at entry 5" in broken.stdout


def _note(database: Database, tenant: Tenant, what: str) -> None:
    with database.session() as session:
        audit.record(
            session,
            organization_id=tenant.id,
            actor="test",
            action="tests:note:write",
            target_type="note",
            target_id=what,
        )


def test_a_stale_head_hint_never_breaks_the_chain(database: Database, tenant: Tenant) -> None:
    """The head this process last wrote is only a guess at where the chain ends: an append that
    rolled back after moving it, or one made elsewhere, leaves it stale, and the next append
    still links to the real head."""
    _note(database, tenant, "first")
    # Appended and moved the head, then rolled back: the hint now runs ahead of the chain.
    with database.sessionmaker() as session:
        audit.record(
            session,
            organization_id=tenant.id,
            actor="test",
            action="tests:note:write",
            target_type="note",
            target_id="lost",
        )
        audit._flush_pending(session)
        session.rollback()
    _note(database, tenant, "after a rollback")
    # Another process appended: the head moved without this process knowing.
    hints = audit._HINTS
    key = next(k for k in hints if k[1] == tenant.id)
    seen = hints[key]
    _note(database, tenant, "elsewhere")
    hints[key] = seen
    _note(database, tenant, "after another process")
    with database.read_session() as session:
        result = audit.verify_chain(session, tenant.id)
        targets = [e.target_id for e in audit.entries(session, tenant.id)]
    assert result.ok, result.reason
    assert "lost" not in targets
    assert targets[-4:] == ["first", "after a rollback", "elsewhere", "after another process"]
