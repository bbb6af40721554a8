"""Audit search and export for auditors; sensitive reads are recorded."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from laurel.audit import search
from laurel.db import Database
from tests.audit.conftest import KEYS
from tests.audit.test_chain import _flow
from tests.conftest import Tenant, completion


def test_search_filters_and_pages(client: TestClient, tenant: Tenant) -> None:
    reward_id = _flow(client, tenant)
    h = tenant.headers
    by_worker = client.get("/api/v1/audit", headers=h, params={"actor": "worker"}).json()
    assert by_worker
    assert {e["actor"] for e in by_worker} == {"worker"}
    rewards = client.get("/api/v1/audit", headers=h, params={"action": "rewards:reward:*"}).json()
    assert [e["action"] for e in reversed(rewards)] == [
        "rewards:reward:create",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:delivered",
    ]
    exact = client.get("/api/v1/audit", headers=h, params={"action": "rewards:reward"}).json()
    assert exact == []
    target = client.get(
        "/api/v1/audit", headers=h, params={"target_type": "reward", "target_id": reward_id}
    ).json()
    assert [e["seq"] for e in target] == [e["seq"] for e in rewards]
    middle = rewards[1]["created_at"]
    since = client.get(
        "/api/v1/audit", headers=h, params={"action": "rewards:*", "since": middle}
    ).json()
    until = client.get(
        "/api/v1/audit", headers=h, params={"action": "rewards:*", "until": middle}
    ).json()
    assert len(since) + len(until) == len(rewards)
    assert all(e["created_at"] >= middle for e in since)
    page = client.get("/api/v1/audit", headers=h, params={"limit": 2}).json()
    after = client.get(
        "/api/v1/audit", headers=h, params={"limit": 2, "before_seq": page[-1]["seq"]}
    ).json()
    assert [e["seq"] for e in page + after] == list(range(page[0]["seq"], page[0]["seq"] - 4, -1))
    bad = client.get("/api/v1/audit", headers=h, params={"since": "yesterday"})
    assert bad.status_code == 422


def test_export_jsonl_and_csv_are_streamed_and_audited(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _flow(client, tenant)
    h = tenant.headers
    total = client.post("/api/v1/audit/verify", headers=h).json()["entries"]
    jsonl = client.get("/api/v1/audit/export", headers=h, params={"format": "jsonl"})
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    # The export itself is the entry after the last one exported.
    assert [r["seq"] for r in rows] == list(range(1, total + 2))
    assert rows[-1]["action"] == "audit:export:read"
    assert rows[-1]["details"] == {
        "sensitive": True,
        "format": "jsonl",
        "filter": {},
    }
    assert set(rows[0]) == set(search.COLUMNS)

    exported = client.get(
        "/api/v1/audit/export",
        headers=h,
        params={"format": "csv", "action": "rewards:*", "actor": "worker"},
    )
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["action"] for r in table] == ["rewards:reward:issuing", "rewards:reward:delivered"]
    assert json.loads(table[0]["details"])["from"] == "ready"
    last = client.get("/api/v1/audit", headers=h, params={"limit": 1}).json()[0]
    assert last["action"] == "audit:export:read"
    assert last["details"]["filter"] == {"action": "rewards:*", "actor": "worker"}


def test_stream_reads_in_batches(client: TestClient, tenant: Tenant, database: Database) -> None:
    for n in range(3):
        _flow_n(client, tenant, n)
    with database.read_session() as session:
        whole = [e.seq for e in search.stream(session, tenant.id, search.AuditFilter())]
    with database.read_session() as session:
        batched = [e.seq for e in search.stream(session, tenant.id, search.AuditFilter(), batch=3)]
    assert batched == whole == list(range(1, len(whole) + 1))


def _flow_n(client: TestClient, tenant: Tenant, n: int) -> None:
    if n == 0:
        _flow(client, tenant)
        return
    body = completion(f"e-{n}", learner=f"E{n}")
    assert client.post("/api/v1/completions", json=body, headers=tenant.headers).status_code < 300


def test_revealed_gift_code_is_a_sensitive_read(client: TestClient, tenant: Tenant) -> None:
    reward_id = _flow(client, tenant)
    shown = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    code = shown["delivery"]["details"]["code"]
    assert "•" not in code
    last = client.get("/api/v1/audit", headers=tenant.headers, params={"limit": 1}).json()[0]
    assert last["action"] == "delivery:gift_code:read"
    assert last["target_id"] == reward_id
    assert last["actor"].startswith("apikey:")
    assert last["details"] == {"sensitive": True, "fields": ["code"]}
    assert code not in json.dumps(last)


def test_offline_verification_from_a_jsonl_export(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    _flow(client, tenant)
    head = client.post("/api/v1/audit/head", headers=tenant.headers).json()
    (tmp_path / "head.json").write_text(json.dumps(head))
    env = os.environ | {"LAUREL_DATABASE_URL": database.url}
    run = [sys.executable, "-m", "laurel", "audit"]
    export = subprocess.run(
        [*run, "export", "--org", "acme", "--output", str(tmp_path / "log.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert export.returncode == 0, export.stderr
    # Verified with no database at all: only the export, the head and the public key.
    offline = os.environ | {"LAUREL_DATABASE_URL": f"sqlite:///{tmp_path / 'absent.db'}"}
    public = KEYS[1].split("\n", 1)[1].rsplit("-----END", 1)[0].replace("\n", "")
    check = [
        *run,
        "verify-head",
        str(tmp_path / "head.json"),
        "--public-key",
        public,
        "--entries",
        str(tmp_path / "log.jsonl"),
    ]
    ok = subprocess.run(check, env=offline, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    forged = json.loads(lines[2]) | {"actor": "nobody"}
    lines[2] = json.dumps(forged)
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    bad = subprocess.run(check, env=offline, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "entry 3 breaks the chain" in bad.stdout
    assert not (tmp_path / "absent.db").exists()
