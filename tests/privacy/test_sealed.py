"""Personal data outside ``learners`` is sealed at rest under the learner's key (or the ring's
when no learner is known), read transparently, unreadable once the key is destroyed, carried
opened in access archives and re-encrypted by ``keys rotate``."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from laurel import migrate
from laurel.db import Database
from laurel.events.connectors.models import DeadLetter
from laurel.kit import crypto
from laurel.kit.crypto import Key, KeyRing
from laurel.learners import personal, sealing
from laurel.notifications import service as notifications
from laurel.notifications.models import OutboxEmail
from laurel.tax import requests as tax_requests
from laurel.tax.models import TaxFormRequest
from tests.conftest import Tenant, completion
from tests.events.connectors.support import post
from tests.events.connectors.xapi.support import basic, statement
from tests.factories import fixed_program
from tests.imports.support import day, report, upload

EMAIL, NAME = "ana@example.com", "Ana Díaz"
ANA = f"mbox:{EMAIL}"
"""Her external id: the one xAPI statements naming her address map to."""
OTHER = "bo@example.com"
SECRET_LINK = "https://laurel.example.com/secret-link-token-123"

# Every column that holds a raw body or a learner's address, sealed or not.
RAW = {
    "completion_events": ("payload", "payload_sealed"),
    "xapi_statements": ("statement", "statement_sealed"),
    "caliper_events": ("event", "event_sealed"),
    "tax_form_requests": ("recipient_email", "recipient_email_sealed"),
    "email_outbox": (
        "recipient",
        "context",
        "recipient_sealed",
        "context_sealed",
        "secrets_sealed",
    ),
    "dead_letters": ("body", "body_sealed"),
    "import_rejections": ("values", "values_sealed"),
}
REJECTED = "rejected.person@example.com"


def _quoted(columns: Any) -> str:
    return ", ".join(f'"{c}"' for c in columns)  # "values" is a keyword


def _raw(database: Database) -> str:
    """What the database holds in those columns, as one text (bytes decoded)."""
    parts: list[str] = []
    with database.engine.connect() as conn:
        for table, columns in RAW.items():
            for row in conn.execute(text(f"SELECT {_quoted(columns)} FROM {table}")):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("utf-8", errors="replace"))
                    else:
                        parts.append(
                            value
                            if isinstance(value, str)
                            else json.dumps(value, ensure_ascii=False)
                        )
    return "\n".join(parts)


def _learner(database: Database, tenant: Tenant, external_id: str) -> uuid.UUID:
    with database.engine.connect() as conn:
        found = conn.execute(
            text("SELECT id FROM learners WHERE external_id = :e AND organization_id = :o"),
            {
                "e": external_id,
                "o": tenant.id.hex if database.url.startswith("sqlite") else tenant.id,
            },
        ).scalar_one()
    return found if isinstance(found, uuid.UUID) else uuid.UUID(str(found))


def _populate(client: TestClient, tenant: Tenant, database: Database) -> tuple[uuid.UUID, str]:
    """Ana: a completion naming her, an xAPI statement, a tax form request, an email with a
    secret link; Bo: a completion; a dead letter nobody could be found for."""
    fixed_program(client, tenant, budget={"amount": "1000.00", "currency": "USD"})
    body = completion("ana-1", learner=ANA, course="SEC-101")
    body["learner"].update(email=EMAIL, name=NAME)
    assert client.post("/api/v1/completions", json=body, headers=tenant.headers).status_code == 202
    other = completion("bo-1", learner=OTHER, course="SEC-101")
    other["learner"].update(email=OTHER, name="Bo Berg")
    assert client.post("/api/v1/completions", json=other, headers=tenant.headers).status_code == 202
    said = statement(activity="https://lms.example.com/courses/SEC-102")
    sent = client.post("/xapi/statements", json=said, headers=basic(tenant.live_key))
    assert sent.status_code == 200, sent.text
    ana = _learner(database, tenant, ANA)
    with database.session() as session:
        tax_requests.issue(
            session,
            organization_id=tenant.id,
            livemode=True,
            learner_id=ana,
            form="W-9",
            reason="manual",
            locale="en",
            email=EMAIL,
            actor="test",
        )
        notifications.enqueue_email(
            session,
            tenant.id,
            EMAIL,
            "password_reset",
            None,
            {"learner_name": NAME},
            learner_id=ana,
            secrets={"link": SECRET_LINK},
        )
    letter = post(client, tenant, "litmos", {"user": {"email": "who@example.com"}}, query={})
    assert letter.status_code in (200, 202, 401, 422), letter.text
    rejected = upload(client, tenant, report([["E77", REJECTED, "Rita Reject", "", "", day(), ""]]))
    assert rejected["rejected"] == 1
    return ana, said["id"]


def test_sealed_at_rest_read_in_clear_and_unreadable_once_the_key_is_gone(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    ana, statement_id = _populate(client, tenant, database)
    raw = _raw(database)
    for plain in (EMAIL, NAME, "Ana D", OTHER, "Bo Berg", SECRET_LINK, REJECTED):
        assert plain not in raw, f"{plain!r} stored in clear"
    assert "ls1:" + ana.hex in raw
    imports = client.get("/api/v1/imports", headers=tenant.headers).json()["data"]
    download = client.get(imports[0]["rejections_csv"], headers=tenant.headers)
    assert REJECTED in download.text
    assert "Rita Reject" in download.text

    # Idempotency compares the stored hash, not the sealed body: a replay is accepted, the
    # same id with another body is a conflict.
    said = statement(activity="https://lms.example.com/courses/SEC-102", statement_id=statement_id)
    again = client.post("/xapi/statements", json=said, headers=basic(tenant.live_key))
    assert again.status_code == 200, again.text
    said["result"] = {"completion": True}
    clash = client.post("/xapi/statements", json=said, headers=basic(tenant.live_key))
    assert clash.status_code == 409, clash.text

    # Read in clear while the key exists: the xAPI read side, the outbox, the form request.
    got = client.get(f"/xapi/statements?statementId={statement_id}", headers=basic(tenant.live_key))
    assert got.status_code == 200
    assert got.json()["actor"]["mbox"] == f"mailto:{EMAIL}"
    with database.session() as session:
        form = session.scalars(select(TaxFormRequest)).one()
        assert sealing.value_of(form, sealing.TAX_RECIPIENT) == EMAIL
        claimed = notifications.claim(session, limit=10, lease_seconds=60)
        mine = next(c for c in claimed if c.template == "password_reset")
        assert mine.recipient == EMAIL
        assert mine.context["learner_name"] == NAME
        assert mine.secrets is not None
        assert notifications.open_secrets(crypto.ring_of(session), mine.id, mine.secrets) == {
            "link": SECRET_LINK
        }
        payloads = session.execute(
            text("SELECT payload_sealed FROM completion_events WHERE learner_id = :l"),
            {"l": ana.hex if database.url.startswith("sqlite") else ana},
        ).scalars()
        opened = sealing.open_many(session, sealing.COMPLETION_PAYLOAD, list(payloads))
        # The API keeps no personal field in the payload; the xAPI statement names her.
        assert None not in opened
        assert f"mailto:{EMAIL}" in {p.get("actor", {}).get("mbox") for p in opened}

    # Destroying the key alone (no overwrite) makes every value of hers unreadable.
    with database.session() as session:
        assert personal.forget(session, tenant.id, ana) == 1
    with database.session() as session:
        tokens = {
            entry: list(
                session.execute(
                    text(f"SELECT {entry.column} FROM {entry.table} WHERE {entry.column} LIKE :p"),
                    {"p": f"ls1:{ana.hex}:%"},
                ).scalars()
            )
            for entry in sealing.registered()
        }
        assert tokens[sealing.COMPLETION_PAYLOAD]
        assert tokens[sealing.XAPI_STATEMENT]
        assert tokens[sealing.TAX_RECIPIENT]
        assert tokens[sealing.OUTBOX_CONTEXT]
        for entry, found in tokens.items():
            assert sealing.open_many(session, entry, found) == [None] * len(found), entry
    got = client.get(f"/xapi/statements?statementId={statement_id}", headers=basic(tenant.live_key))
    assert got.status_code == 200
    assert EMAIL not in got.text
    raw = _raw(database)
    assert EMAIL not in raw
    assert NAME not in raw


def test_erasure_empties_the_rows_and_the_archive_opens_only_the_learners_own(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    ana, _ = _populate(client, tenant, database)
    opened = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": str(ana), "kind": "access"},
    )
    assert opened.status_code == 201, opened.text
    got = client.get(
        f"/api/v1/privacy/requests/{opened.json()['id']}/archive", headers=tenant.headers
    )
    import io
    import zipfile

    data = json.loads(zipfile.ZipFile(io.BytesIO(got.content)).read("data.json"))
    tables: dict[str, list[dict[str, Any]]] = data["tables"]
    mboxes = {e["payload"].get("actor", {}).get("mbox") for e in tables["completion_events"]}
    assert f"mailto:{EMAIL}" in mboxes
    assert tables["xapi_statements"][0]["statement"]["actor"]["mbox"] == f"mailto:{EMAIL}"
    assert tables["tax_form_requests"][0]["recipient_email"] == EMAIL
    email = next(e for e in tables["email_outbox"] if e["template"] == "password_reset")
    assert email["recipient"] == EMAIL
    assert email["context"]["learner_name"] == NAME
    assert SECRET_LINK not in json.dumps(data)
    assert "Bo Berg" not in json.dumps(data)
    assert OTHER not in json.dumps(data)
    assert not any(k.endswith("_sealed") for rows in tables.values() for r in rows for k in r)

    erased = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": str(ana), "kind": "deletion"},
    )
    assert erased.status_code == 201, erased.text
    done = client.post(
        f"/api/v1/privacy/requests/{erased.json()['id']}/fulfil", headers=tenant.headers
    ).json()
    assert done["status"] == "completed"
    assert done["outcome"]["pseudonymised"]["email_outbox"] >= 1
    assert done["outcome"]["pseudonymised"]["tax_form_requests"] == 1
    raw = _raw(database)
    assert EMAIL not in raw
    assert NAME not in raw
    with database.engine.connect() as conn:
        left = conn.execute(
            text(
                "SELECT count(*) FROM email_outbox WHERE context_sealed IS NOT NULL "
                "AND learner_id = :l"
            ),
            {"l": ana.hex if database.url.startswith("sqlite") else ana},
        ).scalar_one()
    assert left == 0


def test_rotate_re_encrypts_outbox_secrets_and_ring_sealed_rows(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _populate(client, tenant, database)
    with database.session() as session:
        before = crypto.ring_of(session)
    fresh = KeyRing([Key("k9", os.urandom(32)), *before.keys.values()])
    with database.session() as session:
        letters = list(session.scalars(select(DeadLetter.body_sealed)))
        secrets = list(session.scalars(select(OutboxEmail.secrets_sealed)))
    assert any(t and crypto.key_id_of(t) == before.current.id for t in letters + secrets)
    list(crypto.rotate_batches(database, fresh, batch=2))
    with database.session() as session:
        session.info[crypto.RING] = fresh
        for entry in sealing.registered():
            tokens = [
                t
                for t in session.execute(
                    text(f"SELECT {entry.column} FROM {entry.table}")
                ).scalars()
                if t is not None
            ]
            ring_sealed = [t for t in tokens if t.startswith("lk1:")]
            assert all(crypto.key_id_of(t) == "k9" for t in ring_sealed), entry
            assert None not in sealing.open_many(session, entry, tokens, fresh), entry
        row = session.scalars(
            select(OutboxEmail).where(OutboxEmail.template == "password_reset")
        ).one()
        assert row.secrets_sealed is not None
        assert notifications.open_secrets(fresh, row.id, row.secrets_sealed) == {
            "link": SECRET_LINK
        }
        body = session.scalars(select(DeadLetter)).first()
        if body is not None:
            assert body.body_sealed is not None
            assert crypto.key_id_of(body.body_sealed) == "k9"
            opened = sealing.open_(session, sealing.DEAD_LETTER_BODY, body.body_sealed)
            assert b"who@example.com" in opened


def test_migration_seals_rows_written_in_clear_and_downgrade_opens_them(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _, statement_id = _populate(client, tenant, database)
    migrate.downgrade(database, "0022")
    raw = _raw_clear(database)
    assert EMAIL in raw
    migrate.upgrade(database)
    raw = _raw(database)
    for plain in (EMAIL, NAME, OTHER, SECRET_LINK):
        assert plain not in raw
    got = client.get(f"/xapi/statements?statementId={statement_id}", headers=basic(tenant.live_key))
    assert got.status_code == 200
    assert got.json()["actor"]["mbox"] == f"mailto:{EMAIL}"
    with database.session() as session:
        claimed = notifications.claim(session, limit=10, lease_seconds=60)
        mine = next(c for c in claimed if c.template == "password_reset")
        assert mine.recipient == EMAIL
        assert mine.context["learner_name"] == NAME
        assert mine.secrets is not None
        assert notifications.open_secrets(crypto.ring_of(session), mine.id, mine.secrets) == {
            "link": SECRET_LINK
        }


def _raw_clear(database: Database) -> str:
    parts: list[str] = []
    with database.engine.connect() as conn:
        for table, columns in RAW.items():
            clear = [c for c in columns if not c.endswith("_sealed")]
            for row in conn.execute(text(f"SELECT {_quoted(clear)} FROM {table}")):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("utf-8", errors="replace"))
                    else:
                        parts.append(
                            value
                            if isinstance(value, str)
                            else json.dumps(value, ensure_ascii=False)
                        )
    return "\n".join(parts)
