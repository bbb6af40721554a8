"""Tampering with the audit log in the database: refused by triggers, or detected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from laurel.audit import service as audit
from laurel.db import Database
from tests.audit.conftest import KEYS
from tests.audit.tamper import as_attacker
from tests.audit.test_chain import _flow
from tests.conftest import Tenant


def _org(database: Database, tenant: Tenant) -> object:
    return tenant.id.hex if database.is_sqlite else tenant.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET actor = 'x' WHERE organization_id = :org AND seq = 2",
        "UPDATE audit_entries SET details = '{}' WHERE organization_id = :org",
        "DELETE FROM audit_entries WHERE organization_id = :org AND seq = 2",
        "DELETE FROM audit_entries WHERE organization_id = :org",
        "UPDATE audit_heads SET seq = seq - 1 WHERE organization_id = :org",
        "UPDATE audit_heads SET hash = 'forged' WHERE organization_id = :org",
        "DELETE FROM audit_heads WHERE organization_id = :org",
    ],
)
def test_database_refuses_changes_to_the_log(
    client: TestClient, tenant: Tenant, database: Database, statement: str
) -> None:
    _flow(client, tenant)
    with database.sessionmaker() as session:
        before = audit.verify_chain(session, tenant.id)
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
        conn.execute(text(statement), {"org": _org(database, tenant)})
    with database.sessionmaker() as session:
        after = audit.verify_chain(session, tenant.id)
    assert after == before
    assert after.ok


def test_appending_still_works_under_the_triggers(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _flow(client, tenant)
    _flow_again = client.post("/api/v1/audit/head", headers=tenant.headers)
    assert _flow_again.status_code == 200
    verified = client.post("/api/v1/audit/verify", headers=tenant.headers).json()
    assert verified["ok"] is True


def _cli(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"LAUREL_DATABASE_URL": database.url, "LAUREL_AUDIT_SIGNING_KEY": KEYS[0]}
    return subprocess.run(
        [sys.executable, "-m", "laurel", "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_rewritten_chain_passes_verify_but_not_the_signed_head(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    """An attacker who alters an entry and recomputes every hash after it fools `verify`,
    which has nothing outside the database to compare with; the signed head catches it."""
    _flow(client, tenant)
    head = client.post("/api/v1/audit/head", headers=tenant.headers).json()
    (tmp_path / "head.json").write_text(json.dumps(head))
    (tmp_path / "public.pem").write_text(KEYS[1])
    ok = _cli(
        database,
        "verify-head",
        str(tmp_path / "head.json"),
        "--public-key",
        str(tmp_path / "public.pem"),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"acme (head {head['seq']}" in ok.stdout

    with database.sessionmaker() as session:
        entries = list(audit.entries(session, tenant.id))
    with as_attacker(database) as conn:
        prev = entries[2].prev_hash
        for entry in entries[2:]:
            actor = "someone-else" if entry.seq == 3 else entry.actor
            digest = audit.entry_hash(
                prev_hash=prev,
                organization_id=tenant.id,
                seq=entry.seq,
                actor=actor,
                action=entry.action,
                target_type=entry.target_type,
                target_id=entry.target_id,
                details=entry.details,
                created_at=entry.created_at,
            )
            conn.execute(
                text(
                    "UPDATE audit_entries SET actor = :actor, prev_hash = :prev, hash = :hash "
                    "WHERE organization_id = :org AND seq = :seq"
                ),
                {
                    "actor": actor,
                    "prev": prev,
                    "hash": digest,
                    "seq": entry.seq,
                    "org": _org(database, tenant),
                },
            )
            prev = digest
        conn.execute(
            text("UPDATE audit_heads SET hash = :hash WHERE organization_id = :org"),
            {"hash": prev, "org": _org(database, tenant)},
        )
    assert client.post("/api/v1/audit/verify", headers=tenant.headers).json()["ok"] is True

    broken = _cli(
        database,
        "verify-head",
        str(tmp_path / "head.json"),
        "--public-key",
        str(tmp_path / "public.pem"),
    )
    assert broken.returncode == 1
    assert f"BROKEN: entry {head['seq']} does not have the signed hash" in broken.stdout
    api = client.post(
        "/api/v1/audit/head/verify", headers=tenant.headers, json={"head": head}
    ).json()
    assert api["ok"] is False
    assert "rewritten" in api["reason"]


def test_truncated_log_is_caught_by_the_signed_head(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    _flow(client, tenant)
    head = client.post("/api/v1/audit/head", headers=tenant.headers).json()
    with as_attacker(database) as conn:
        conn.execute(
            text("DELETE FROM audit_entries WHERE organization_id = :org AND seq > 4"),
            {"org": _org(database, tenant)},
        )
        conn.execute(
            text(
                "UPDATE audit_heads SET seq = 4, hash = h.hash FROM audit_entries h "
                "WHERE audit_heads.organization_id = :org AND h.organization_id = :org "
                "AND h.seq = 4"
            ),
            {"org": _org(database, tenant)},
        )
    assert client.post("/api/v1/audit/verify", headers=tenant.headers).json()["ok"] is True
    result = client.post(
        "/api/v1/audit/head/verify",
        headers=tenant.headers,
        json={"head": head, "public_key": KEYS[1]},
    ).json()
    assert result == {
        "ok": False,
        "head_seq": head["seq"],
        "entries": 4,
        "reason": f"the signed head has {head['seq']} entries but only 4 remain "
        "(entries were removed)",
    }


def test_forged_signature_is_refused(client: TestClient, tenant: Tenant) -> None:
    _flow(client, tenant)
    head = client.post("/api/v1/audit/head", headers=tenant.headers).json()
    forged = head | {"seq": head["seq"] - 3}
    answer = client.post("/api/v1/audit/head/verify", headers=tenant.headers, json={"head": forged})
    assert answer.status_code == 422
    assert answer.json()["error"] == "audit_head_invalid"
    assert "signature does not hold" in answer.json()["detail"]
