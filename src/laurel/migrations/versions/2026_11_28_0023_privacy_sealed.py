"""privacy: personal data outside learners sealed under the learner's key

Raw LMS payloads (completion events, xAPI statements, Caliper events), tax form request
addresses, outbox addresses, template values and secrets, and dead-letter bodies move to
``*_sealed`` Text columns (:mod:`laurel.learners.sealing`): under the learner's data key where
the row belongs to a learner (erasure destroys it), under the key ring otherwise. The clear
columns stay, emptied, so SQLite need not rebuild ``completion_events`` (whose triggers feed
learning pairs). Existing rows are sealed here, in batches, with the ring the application
reads with: run the upgrade with the same settings as ``laurel serve``. Rows of learners
already pseudonymised are emptied instead (their key is gone). Downgrading opens them again.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from laurel.kit.clock import utcnow
from laurel.kit.crypto import DecryptionError, KeyRing, ring_from_settings
from laurel.kit.orm import JSONType, UTCDateTime
from laurel.learners import personal, sealing

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
ERASED = {"erased": True}

_events = sa.table(
    "completion_events",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("learner_id", sa.Uuid()),
    sa.column("payload", JSONType),
    sa.column("payload_sealed", sa.Text()),
)
_xapi = sa.table(
    "xapi_statements",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("event_id", sa.Uuid()),
    sa.column("statement", JSONType),
    sa.column("statement_sealed", sa.Text()),
)
_caliper = sa.table(
    "caliper_events",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("event_id", sa.Uuid()),
    sa.column("event", JSONType),
    sa.column("event_sealed", sa.Text()),
)
_forms = sa.table(
    "tax_form_requests",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("learner_id", sa.Uuid()),
    sa.column("recipient_email", sa.String()),
    sa.column("recipient_email_sealed", sa.Text()),
)
_outbox = sa.table(
    "email_outbox",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("learner_id", sa.Uuid()),
    sa.column("recipient", sa.String()),
    sa.column("context", JSONType),
    sa.column("recipient_sealed", sa.Text()),
    sa.column("context_sealed", sa.Text()),
    sa.column("secrets_sealed", sa.Text()),
)
_letters = sa.table(
    "dead_letters",
    sa.column("id", sa.Uuid()),
    sa.column("body", sa.LargeBinary()),
    sa.column("body_sealed", sa.Text()),
)
_rejections = sa.table(
    "import_rejections",
    sa.column("id", sa.Uuid()),
    sa.column("values", JSONType),
    sa.column("values_sealed", sa.Text()),
)
_learners = sa.table(
    "learners",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("pseudonymised_at", UTCDateTime()),
)
_keys = sa.table(
    "learner_keys",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("learner_id", sa.Uuid()),
    sa.column("wrapped_key", sa.Text()),
    sa.column("created_at", UTCDateTime()),
)
_COLUMNS = (
    ("completion_events", "payload_sealed"),
    ("xapi_statements", "statement_sealed"),
    ("caliper_events", "event_sealed"),
    ("tax_form_requests", "recipient_email_sealed"),
    ("email_outbox", "recipient_sealed"),
    ("email_outbox", "context_sealed"),
    ("email_outbox", "secrets_sealed"),
    ("dead_letters", "body_sealed"),
    ("import_rejections", "values_sealed"),
)


def _ring() -> KeyRing:
    ring = context.config.attributes.get("key_ring")
    if ring is not None:
        return ring  # type: ignore[no-any-return]
    from laurel.config import get_settings  # noqa: PLC0415

    return ring_from_settings(get_settings())


def _batches(conn: sa.Connection, table: Any, columns: list[Any], where: Any) -> Iterator[Any]:
    after: uuid.UUID | None = None
    while True:
        query = sa.select(table.c.id, *columns).where(where)
        if after is not None:
            query = query.where(table.c.id > after)
        rows = conn.execute(query.order_by(table.c.id).limit(_BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _keys_for(conn: sa.Connection, ring: KeyRing, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The learners' data keys; one is made for a learner that has none, unless the learner
    was pseudonymised (None then: what was theirs is emptied, not sealed)."""
    if not ids:
        return {}
    found: dict[uuid.UUID, AESGCM | None] = {}
    for learner_id, wrapped in conn.execute(
        sa.select(_keys.c.learner_id, _keys.c.wrapped_key).where(_keys.c.learner_id.in_(ids))
    ):
        found[learner_id] = personal.unwrap(ring, wrapped)
    missing = ids - found.keys()
    if missing:
        rows = conn.execute(
            sa.select(
                _learners.c.id, _learners.c.organization_id, _learners.c.pseudonymised_at
            ).where(_learners.c.id.in_(missing))
        ).all()
        made = []
        for learner_id, organization_id, pseudonymised_at in rows:
            if pseudonymised_at is not None:
                found[learner_id] = None
                continue
            key, wrapped = personal.new_key(ring)
            made.append(personal.key_row(organization_id, learner_id, wrapped, utcnow()))
            found[learner_id] = key
        if made:
            conn.execute(sa.insert(_keys), made)
    return found


def _seal(
    ring: KeyRing,
    keys: dict[uuid.UUID, Any],
    entry: sealing.Sealed,
    learner_id: uuid.UUID | None,
    value: Any,
) -> tuple[str | None, bool]:
    """(the sealed value, whether to keep it): False for a learner already pseudonymised."""
    plain = sealing.as_text(value, entry.kind)
    if learner_id is None:
        return ring.encrypt(plain, entry.context), True
    key = keys.get(learner_id)
    if key is None:
        return None, False
    return sealing.seal_with(key, learner_id, plain, entry.context), True


def _empty(value: Any) -> bool:
    return value is None or value in ({}, [], ERASED, b"", "")


def _seal_json(
    conn: sa.Connection,
    ring: KeyRing,
    table: Any,
    clear: str,
    entry: sealing.Sealed,
    owner: Any,
) -> None:
    """Seal a JSON column whose learner is ``owner`` (a column or a scalar subquery)."""
    for rows in _batches(
        conn, table, [owner.label("owner"), table.c[clear]], table.c[entry.column].is_(None)
    ):
        todo = [(row_id, who, value) for row_id, who, value in rows if not _empty(value)]
        keys = _keys_for(conn, ring, {who for _, who, _ in todo if who is not None})
        updates = []
        for row_id, who, value in todo:
            token, keep = _seal(ring, keys, entry, who, value)
            blank: Any = [] if isinstance(value, list) else {}
            updates.append({"_id": row_id, "_sealed": token, "_clear": blank if keep else ERASED})
        if updates:
            conn.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("_id"))
                .values({entry.column: sa.bindparam("_sealed"), clear: sa.bindparam("_clear")}),
                updates,
            )


def _event_owner(table: Any) -> Any:
    return (
        sa.select(_events.c.learner_id)
        .where(_events.c.id == table.c.event_id)
        .correlate(table)
        .scalar_subquery()
    )


def _seal_forms(conn: sa.Connection, ring: KeyRing) -> None:
    entry = sealing.TAX_RECIPIENT
    for rows in _batches(
        conn,
        _forms,
        [_forms.c.learner_id, _forms.c.recipient_email],
        _forms.c.recipient_email.is_not(None),
    ):
        keys = _keys_for(conn, ring, {who for _, who, _ in rows})
        updates = [
            {"_id": row_id, "_sealed": _seal(ring, keys, entry, who, email)[0]}
            for row_id, who, email in rows
        ]
        conn.execute(
            sa.update(_forms)
            .where(_forms.c.id == sa.bindparam("_id"))
            .values(recipient_email=None, recipient_email_sealed=sa.bindparam("_sealed")),
            updates,
        )


def _old_secrets(ring: KeyRing, row_id: uuid.UUID, sealed: Any) -> dict[str, str] | None:
    """Secrets sealed per name in the context, the way rows were written before."""
    if not isinstance(sealed, dict) or not sealed:
        return None
    try:
        return {
            name: ring.decrypt(value, f"notifications:outbox:{row_id}:{name}")
            for name, value in sealed.items()
        }
    except DecryptionError:
        return None  # a key no longer in the ring: the email could not be sent anyway


def _seal_outbox(conn: sa.Connection, ring: KeyRing) -> None:
    for rows in _batches(
        conn,
        _outbox,
        [_outbox.c.learner_id, _outbox.c.recipient, _outbox.c.context],
        _outbox.c.context_sealed.is_(None) & _outbox.c.recipient_sealed.is_(None),
    ):
        todo = [r for r in rows if r[2] is not None or not _empty(r[3])]
        keys = _keys_for(conn, ring, {r[1] for r in todo if r[1] is not None})
        updates = []
        for row_id, who, recipient, stored in todo:
            values = dict(stored or {})
            secrets = _old_secrets(ring, row_id, values.pop("_sealed", None))
            to, _ = (
                _seal(ring, keys, sealing.OUTBOX_RECIPIENT, who, recipient)
                if recipient
                else (None, True)
            )
            sealed_context, keep = _seal(ring, keys, sealing.OUTBOX_CONTEXT, who, values)
            updates.append(
                {
                    "_id": row_id,
                    "_recipient": to,
                    "_context": sealed_context if values else None,
                    "_secrets": ring.encrypt(
                        sealing.dumps({"row": str(row_id), "values": secrets}),
                        sealing.OUTBOX_SECRETS.context,
                    )
                    if secrets and keep
                    else None,
                }
            )
        if updates:
            conn.execute(
                sa.update(_outbox)
                .where(_outbox.c.id == sa.bindparam("_id"))
                .values(
                    recipient=None,
                    context={},
                    recipient_sealed=sa.bindparam("_recipient"),
                    context_sealed=sa.bindparam("_context"),
                    secrets_sealed=sa.bindparam("_secrets"),
                ),
                updates,
            )


def _seal_letters(conn: sa.Connection, ring: KeyRing) -> None:
    entry = sealing.DEAD_LETTER_BODY
    for rows in _batches(conn, _letters, [_letters.c.body], _letters.c.body_sealed.is_(None)):
        updates = [
            {"_id": row_id, "_sealed": ring.encrypt(sealing.as_text(body, "bytes"), entry.context)}
            for row_id, body in rows
            if body
        ]
        if updates:
            conn.execute(
                sa.update(_letters)
                .where(_letters.c.id == sa.bindparam("_id"))
                .values(body=b"", body_sealed=sa.bindparam("_sealed")),
                updates,
            )


def upgrade() -> None:
    for table, column in _COLUMNS:
        # A plain ADD COLUMN (no table rebuild): completion_events keeps its triggers.
        op.add_column(table, sa.Column(column, sa.Text(), nullable=True))
    conn = op.get_bind()
    ring = _ring()
    _seal_json(conn, ring, _events, "payload", sealing.COMPLETION_PAYLOAD, _events.c.learner_id)
    _seal_json(conn, ring, _xapi, "statement", sealing.XAPI_STATEMENT, _event_owner(_xapi))
    _seal_json(conn, ring, _caliper, "event", sealing.CALIPER_EVENT, _event_owner(_caliper))
    _seal_forms(conn, ring)
    _seal_outbox(conn, ring)
    _seal_letters(conn, ring)
    # Rejected import rows name nobody Laurel could match: under the ring.
    _seal_json(conn, ring, _rejections, "values", sealing.IMPORT_VALUES, sa.null())


def _open(ring: KeyRing, entry: sealing.Sealed, token: str, keys: dict[uuid.UUID, Any]) -> Any:
    who = sealing.learner_of(token)
    if who is None:
        return sealing.from_text(ring.decrypt(token, entry.context), entry.kind)
    key = keys.get(who)
    return (
        None
        if key is None
        else sealing.from_text(sealing.open_with(key, token, entry.context), entry.kind)
    )


def _unseal(conn: sa.Connection, ring: KeyRing, table: Any, entry: sealing.Sealed) -> None:
    column = table.c[entry.column]
    for rows in _batches(conn, table, [column], column.is_not(None)):
        owners = {w for _, token in rows if (w := sealing.learner_of(token)) is not None}
        keys: dict[uuid.UUID, Any] = {}
        for learner_id, wrapped in conn.execute(
            sa.select(_keys.c.learner_id, _keys.c.wrapped_key).where(_keys.c.learner_id.in_(owners))
        ):
            keys[learner_id] = personal.unwrap(ring, wrapped)
        updates = []
        for row_id, token in rows:
            value = _open(ring, entry, token, keys)
            if entry is sealing.OUTBOX_SECRETS:
                values = (value or {}).get("values") or {}
                value = {
                    "_sealed": {
                        name: ring.encrypt(v, f"notifications:outbox:{row_id}:{name}")
                        for name, v in values.items()
                    }
                }
            elif value is None:
                value = ERASED if entry.kind == "json" else None
            updates.append({"_id": row_id, "_value": value})
        if entry is sealing.OUTBOX_SECRETS:
            # Back into the context, where the rows kept them before.
            for item in updates:
                current = conn.execute(
                    sa.select(_outbox.c.context).where(_outbox.c.id == item["_id"])
                ).scalar_one()
                conn.execute(
                    sa.update(_outbox)
                    .where(_outbox.c.id == item["_id"])
                    .values(context={**(current or {}), **item["_value"]})
                )
            continue
        target = table.c[entry.clear]
        if entry.kind == "bytes":
            for item in updates:
                item["_value"] = item["_value"] or b""
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({target.name: sa.bindparam("_value", type_=target.type)}),
            updates,
        )


def downgrade() -> None:
    conn = op.get_bind()
    ring = _ring()
    tables = {
        "completion_events": _events,
        "xapi_statements": _xapi,
        "caliper_events": _caliper,
        "tax_form_requests": _forms,
        "email_outbox": _outbox,
        "dead_letters": _letters,
        "import_rejections": _rejections,
    }
    for entry in sealing.registered():
        # Later revisions open their own columns (and may seal more of these tables).
        if (entry.table, entry.column) in _COLUMNS:
            _unseal(conn, ring, tables[entry.table], entry)
    for table, column in reversed(_COLUMNS):
        op.drop_column(table, column)
