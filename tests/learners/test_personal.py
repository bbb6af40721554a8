"""Personal fields sealed under a key per learner: nothing in clear at rest, the API reads them,
erasure destroys the key, rotation re-wraps keys and re-indexes, the migration seals old rows."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import String, Text, func, select, text

from laurel import migrate
from laurel.app import create_app
from laurel.audit.models import AuditEntry
from laurel.config import Settings
from laurel.db import Database
from laurel.kit import crypto
from laurel.learners import personal
from laurel.learners import service as learners
from laurel.learners.models import Learner, LearnerKey
from laurel.learners.schemas import LearnerRef
from laurel.models import Base
from tests.conftest import Tenant, completion

EMAIL = "zoe.quint@example.com"
NAME = "Zoe Quintana-Berg"
MANAGER = "Maximilian Oyelaran"
NEW = base64.b64encode(b"\x02" * 32).decode()


def _tables_holding(database: Database, needle: str) -> set[str]:
    """Tables with any text or JSON column containing ``needle``."""
    hits = set()
    with database.read_session() as session:
        for name, table in Base.metadata.tables.items():
            for column in table.c:
                kind = type(column.type).__name__
                if isinstance(column.type, String | Text) or "JSON" in kind:
                    value = func.cast(column, String) if "JSON" in kind else column
                    count = session.scalar(
                        select(func.count()).select_from(table).where(value.contains(needle))
                    )
                    if count:
                        hits.add(name)
    return hits


def _learner(client: TestClient, tenant: Tenant, learner_id: str) -> dict[str, Any]:
    found = client.get(f"/api/v1/learners/{learner_id}", headers=tenant.headers)
    assert found.status_code == 200, found.text
    return dict(found.json())


def _sealed(database: Database, learner_id: str) -> tuple[Any, ...]:
    with database.engine.connect() as conn:
        row = conn.execute(
            select(
                Learner.email_sealed,
                Learner.name_sealed,
                Learner.manager_sealed,
                Learner.email_index,
            ).where(Learner.id == uuid.UUID(learner_id))
        ).one()
    return tuple(row)


def test_no_personal_field_in_clear_at_rest_and_the_api_reads_them(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    made = client.post(
        "/api/v1/learners",
        headers=tenant.headers,
        json={"external_id": "Z-1", "email": EMAIL, "name": NAME, "manager": MANAGER},
    )
    assert made.status_code == 201, made.text
    body = completion("z-1", learner="Z-2")
    body["learner"].update(email="Second.Person@Example.com", name="Second Person-Okafor")
    sent = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert sent.status_code in (201, 202), sent.text

    learner = _learner(client, tenant, made.json()["id"])
    assert (learner["email"], learner["name"], learner["manager"]) == (EMAIL, NAME, MANAGER)
    page = client.get("/api/v1/learners", headers=tenant.headers).json()["data"]
    assert {(x["external_id"], x["name"]) for x in page} == {
        ("Z-1", NAME),
        ("Z-2", "Second Person-Okafor"),
    }
    for needle in (EMAIL, NAME, MANAGER, "Second.Person@Example.com", "Second Person-Okafor"):
        assert _tables_holding(database, needle) == set(), needle
    email_sealed, name_sealed, manager_sealed, email_index = _sealed(database, learner["id"])
    assert email_sealed.startswith(personal.PREFIX)
    assert name_sealed.startswith(personal.PREFIX)
    assert manager_sealed.startswith(personal.PREFIX)
    assert email_index.startswith("k0:")
    if database.is_sqlite:
        # The file itself (and its write-ahead log) never saw the values in clear.
        path = Path(database.url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for needle in (EMAIL, NAME, MANAGER):
            assert needle.encode() not in raw


def test_lookups_by_email_go_through_the_blind_index(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    body = completion("z-1", learner="Z-1")
    body["learner"].update(email=EMAIL)
    assert client.post("/api/v1/completions", headers=tenant.headers, json=body).status_code == 202
    with database.read_session() as session:
        for asked in (EMAIL, EMAIL.upper(), "Z-1"):
            found = session.scalars(select(Learner).where(learners.named(session, asked))).all()
            assert [x.external_id for x in found] == ["Z-1"], asked
            assert found[0].email == EMAIL
        nobody = select(Learner).where(learners.named(session, "no@x.io"))
        assert session.scalars(nobody).all() == []


def test_an_unchanged_learner_is_not_resealed_and_a_change_is_recorded(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    def send(event_id: str, **learner: Any) -> str:
        body = completion(event_id, learner="Z-1")
        body["learner"].update(learner)
        answer = client.post("/api/v1/completions", headers=tenant.headers, json=body)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["learner_id"])

    learner_id = send("z-1", email=EMAIL, name=NAME)
    first = _sealed(database, learner_id)
    send("z-2", email=EMAIL.upper(), name=NAME)
    assert _sealed(database, learner_id) == first
    send("z-3", email=EMAIL, name="Zoe Quintana")
    after = _sealed(database, learner_id)
    assert after[0] == first[0]
    assert after[1] != first[1]
    assert _learner(client, tenant, learner_id)["name"] == "Zoe Quintana"
    with database.read_session() as session:
        changes = session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == "learners:learner:update",
                AuditEntry.target_id == learner_id,
            )
        ).all()
    assert changes == [{"changed": ["name"], "from": "event"}]


def test_erasure_destroys_the_key_and_leaves_ciphertext_nobody_can_read(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    made = client.post(
        "/api/v1/learners",
        headers=tenant.headers,
        json={"external_id": "Z-1", "email": EMAIL, "name": NAME, "manager": MANAGER},
    ).json()
    before = _sealed(database, made["id"])
    request = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": made["id"], "kind": "deletion"},
    ).json()
    done = client.post(f"/api/v1/privacy/requests/{request['id']}/fulfil", headers=tenant.headers)
    assert done.status_code == 200, done.text
    outcome = done.json()["outcome"]
    assert outcome["deleted"]["learner_keys"] == 1
    assert any("key was destroyed" in k["reason"] for k in outcome["kept"])
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(LearnerKey)) == 0
    email_sealed, name_sealed, manager_sealed, email_index = _sealed(database, made["id"])
    assert (email_sealed, name_sealed, manager_sealed) == before[:3]
    assert email_index is None
    learner = _learner(client, tenant, made["id"])
    assert (learner["email"], learner["name"], learner["manager"]) == (None, None, None)
    with database.read_session() as session:
        assert session.scalars(select(Learner).where(learners.named(session, EMAIL))).all() == []


def test_rotation_rewraps_keys_and_reindexes_while_reads_go_on(
    client: TestClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    made = client.post(
        "/api/v1/learners",
        headers=tenant.headers,
        json={"external_id": "Z-1", "email": EMAIL, "name": NAME},
    ).json()
    rotated = settings.model_copy(update={"encryption_keys": SecretStr(f"k1:{NEW}")})
    with TestClient(create_app(rotated, database)) as during:
        # Before rotating: the old key still opens and finds everything.
        assert _learner(during, tenant, made["id"])["name"] == NAME
        with database.read_session() as session:
            assert len(session.scalars(select(Learner).where(learners.named(session, EMAIL))).all())
        done = list(crypto.rotate_batches(database, database.key_ring, batch=1))
        by_column = {f"{d.column.table}.{d.column.column}": d.rewritten for d in done}
        assert by_column["learner_keys.wrapped_key"] == 1
        assert by_column["learners.*_index"] == 1
        assert _learner(during, tenant, made["id"])["email"] == EMAIL
    with database.engine.connect() as conn:
        wrapped = conn.execute(text("SELECT wrapped_key FROM learner_keys")).scalar_one()
        index = conn.execute(text("SELECT email_index, name_index FROM learners")).one()
    assert wrapped.startswith("lk1:k1:")
    assert index[0].startswith("k1:")
    assert index[1].startswith("k1:")
    again = list(crypto.rotate_batches(database, database.key_ring, batch=1))
    assert sum(d.rewritten for d in again) == 0
    # Once rotated, the old key can go.
    only_new = settings.model_copy(
        update={"encryption_keys": SecretStr(f"k1:{NEW}"), "secret_key": "another-secret" * 3}
    )
    with TestClient(create_app(only_new, database)) as after:
        learner = _learner(after, tenant, made["id"])
        assert (learner["email"], learner["name"]) == (EMAIL, NAME)
        with database.read_session() as session:
            found = session.scalars(select(Learner).where(learners.named(session, EMAIL))).all()
            assert [x.id for x in found] == [uuid.UUID(made["id"])]


def test_migration_seals_existing_rows_in_place(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    made = client.post(
        "/api/v1/learners",
        headers=tenant.headers,
        json={"external_id": "Z-1", "email": EMAIL, "name": NAME, "manager": MANAGER},
    ).json()
    bare = client.post(
        "/api/v1/learners", headers=tenant.headers, json={"external_id": "Z-2"}
    ).json()
    migrate.downgrade(database, "0019")
    with database.engine.connect() as conn:
        clear = conn.execute(
            text("SELECT email, name, manager FROM learners WHERE external_id = 'Z-1'")
        ).one()
        assert tuple(clear) == (EMAIL, NAME, MANAGER)
    migrate.upgrade(database)
    for needle in (EMAIL, NAME, MANAGER):
        assert _tables_holding(database, needle) == set(), needle
    learner = _learner(client, tenant, made["id"])
    assert (learner["email"], learner["name"], learner["manager"]) == (EMAIL, NAME, MANAGER)
    assert _learner(client, tenant, bare["id"])["email"] is None
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(LearnerKey)) == 1
        found = session.scalars(select(Learner).where(learners.named(session, EMAIL))).all()
        assert [x.external_id for x in found] == ["Z-1"]


def test_two_transactions_creating_one_learner_leave_one_key_that_opens(
    database: Database, tenant: Tenant
) -> None:
    """PostgreSQL: the loser of the race for a new learner takes the winner's row and key and
    seals what it says about the learner under that key."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL: SQLite has one writer at a time by construction")
    first_in = threading.Event()
    release = threading.Event()

    def observe(name: str, hold: bool) -> None:
        with database.session() as session:
            learners.observe_many(
                session, tenant.actor, [LearnerRef(external_id="Z-1", email=EMAIL, name=name)]
            )
            if hold:
                first_in.set()
                assert release.wait(30)

    winner = threading.Thread(target=observe, args=("First Name", True))
    winner.start()
    assert first_in.wait(30)
    loser = threading.Thread(target=observe, args=("Second Name", False))
    loser.start()
    time.sleep(0.5)  # the loser's INSERT now waits on the winner's uncommitted row
    release.set()
    winner.join(30)
    loser.join(30)
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(LearnerKey)) == 1
        found = session.scalars(select(Learner)).all()
        assert [(x.email, x.name) for x in found] == [(EMAIL, "Second Name")]
