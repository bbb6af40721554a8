"""Inventory of pre-purchased gift codes: upload, atomic allocation, stock and low-stock alerts.

Allocation is one guarded UPDATE (``... WHERE allocated_to IS NULL``) of a code picked with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers never wait on each other and
never take the same code; SQLite has one writer at a time and the guard settles the rest. The
reward id is the allocation key and is unique: asking again for the same reward (after a crash)
returns the code it already has. Expired codes are never allocated; the soonest to expire go
first.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Table,
    and_,
    bindparam,
    case,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.delivery.inventory import csvfile
from laurel.delivery.inventory.sealing import CodeBox
from laurel.delivery.models import InventoryCode, InventoryStock
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_ignore, insert_rows
from laurel.notifications import service as notifications
from laurel.rewards import service as rewards

OUT_OF_STOCK = "out_of_stock"
NEVER = date(9999, 12, 31)
"""``use_by`` of a code that does not expire: it sorts after every real expiry date."""
PROVIDER = "inventory"

Denomination = tuple[str, str, int]
"""(brand, currency, value in minor units)."""


@dataclass(frozen=True, slots=True)
class UploadResult:
    upload_id: uuid.UUID
    rows: int
    stored: int
    errors: list[csvfile.RowError]
    released: int
    """Rewards held ``out_of_stock`` that this upload let through."""


@dataclass(frozen=True, slots=True)
class StockLevel:
    brand: str
    currency: str
    value_minor: int
    available: int
    allocated: int
    expired: int
    threshold: int
    low: bool
    low_since: datetime | None

    @property
    def value(self) -> Money:
        return Money(self.value_minor, self.currency)


@dataclass(frozen=True, slots=True)
class Allocated:
    id: uuid.UUID
    brand: str
    value: Money
    code: str
    pin: str | None
    expires_on: date | None
    allocated_at: datetime


def today() -> date:
    return utcnow().date()


# ---------------------------------------------------------------- upload


def upload(
    session: Session,
    organization_id: uuid.UUID,
    data: bytes,
    *,
    box: CodeBox,
    actor: str,
    default_threshold: int,
) -> UploadResult:
    """Store the file's valid codes (sealed); report every bad or already-known row."""
    rows, errors = csvfile.parse(data, today())
    total = len(rows) + len(errors)
    upload_id = uuid7()
    hashes = {r.row: box.code_hash(organization_id, r.code) for r in rows}
    first_row: dict[str, int] = {}
    fresh: list[csvfile.CodeRow] = []
    for r in rows:
        earlier = first_row.setdefault(hashes[r.row], r.row)
        if earlier != r.row:
            errors.append(csvfile.RowError(r.row, "code", f"the same code as row {earlier}"))
        else:
            fresh.append(r)
    known = _known_hashes(session, organization_id, [hashes[r.row] for r in fresh])
    now = utcnow()
    values: list[dict[str, Any]] = []
    row_of: dict[uuid.UUID, int] = {}
    for r in fresh:
        if hashes[r.row] in known:
            errors.append(csvfile.RowError(r.row, "code", "this code was uploaded before"))
            continue
        code_id = uuid7()
        row_of[code_id] = r.row
        values.append(
            {
                "id": code_id,
                "organization_id": organization_id,
                "created_at": now,
                "brand": r.brand,
                "currency": r.value.currency,
                "value_minor": r.value.minor,
                "code_sealed": box.seal(r.code),
                "pin_sealed": box.seal(r.pin) if r.pin else None,
                "code_hash": hashes[r.row],
                "expires_on": r.expires_on,
                "use_by": r.expires_on or NEVER,
                "upload_id": upload_id,
                "uploaded_by": actor,
                "allocated_to": None,
                "allocated_at": None,
            }
        )
    inserted = insert_rows(
        session,
        InventoryCode.__table__,  # type: ignore[arg-type]
        values,
        ["organization_id", "code_hash"],
    )
    for v in values:
        if v["id"] not in inserted:  # a concurrent upload of the same code won the race
            errors.append(
                csvfile.RowError(row_of[v["id"]], "code", "this code was uploaded before")
            )
    errors.sort(key=lambda e: (e.row, e.column))
    stored = [v for v in values if v["id"] in inserted]
    denominations = sorted({(v["brand"], v["currency"], v["value_minor"]) for v in stored})
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="inventory:codes:upload",
        target_type="inventory_upload",
        target_id=upload_id,
        details={
            "rows": total,
            "stored": len(stored),
            "rejected": len(errors),
            "denominations": [{"brand": b, **Money(v, c).to_json()} for b, c, v in denominations],
        },
    )
    refresh_alerts(session, organization_id, denominations, actor, default_threshold)
    released = 0
    if stored:
        released = rewards.release_held(session, organization_id, None, OUT_OF_STOCK, actor)
    return UploadResult(
        upload_id=upload_id,
        rows=total,
        stored=len(stored),
        errors=errors,
        released=released,
    )


def _known_hashes(session: Session, organization_id: uuid.UUID, hashes: list[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(hashes):
        found.update(
            session.scalars(
                select(InventoryCode.code_hash).where(
                    InventoryCode.organization_id == organization_id,
                    InventoryCode.code_hash.in_(part),
                )
            )
        )
    return found


# ---------------------------------------------------------------- allocation


def _available(organization_id: uuid.UUID, on: date) -> list[object]:
    return [
        InventoryCode.organization_id == organization_id,
        InventoryCode.allocated_to.is_(None),
        InventoryCode.use_by >= on,
    ]


_CODES: Table = InventoryCode.__table__  # type: ignore[assignment]
_HANDED = (
    _CODES.c.id,
    _CODES.c.brand,
    _CODES.c.currency,
    _CODES.c.value_minor,
    _CODES.c.code_sealed,
    _CODES.c.pin_sealed,
    _CODES.c.expires_on,
    _CODES.c.allocated_at,
)
"""What an allocation hands over (read straight from the row the UPDATE took)."""


def _candidates(by_brand: bool) -> list[ColumnElement[bool]]:
    c = _CODES.c
    where = [
        c.organization_id == bindparam("_org"),
        c.allocated_to.is_(None),
        c.use_by >= bindparam("_on"),
        c.currency == bindparam("_currency"),
        c.value_minor == bindparam("_value"),
    ]
    if by_brand:
        where.append(c.brand == bindparam("_brand"))
    return where


@cache
def _statements(postgres: bool, by_brand: bool) -> tuple[Executable, Executable]:
    """Built once: the allocation path runs per reward, and building SQLAlchemy statements
    costs more than running these on an index."""
    pick = select(_CODES.c.id).where(*_candidates(by_brand)).order_by(_CODES.c.use_by).limit(1)
    if postgres:
        pick = pick.with_for_update(skip_locked=True)
    # One statement picks and takes the code; the guard makes a lost race take nothing.
    take = (
        update(_CODES)
        .where(_CODES.c.id == pick.scalar_subquery(), _CODES.c.allocated_to.is_(None))
        .values(allocated_to=bindparam("_key"), allocated_at=bindparam("_now"))
        .returning(*_HANDED)
    )
    left = select(_CODES.c.id).where(*_candidates(by_brand)).limit(1)
    return take, left


_HELD = select(*_HANDED).where(_CODES.c.allocated_to == bindparam("_key"))


def allocation(session: Session, key: str, box: CodeBox) -> Allocated | None:
    """The code already handed to ``key`` (a reward id), if any."""
    row = session.execute(_HELD, {"_key": key}).first()
    return _allocated(row, box) if row is not None else None


def allocate(
    session: Session,
    organization_id: uuid.UUID,
    key: str,
    value: Money,
    box: CodeBox,
    *,
    brand: str | None = None,
) -> Allocated | None:
    """Hand one unexpired code of ``value`` (and ``brand``, when given) to ``key``, exactly once.

    Returns the code ``key`` already holds when asked again; None when none is left.
    """
    held = allocation(session, key, box)
    if held is not None:
        return held
    postgres = session.get_bind().dialect.name == "postgresql"
    take, left = _statements(postgres, brand is not None)
    params: dict[str, Any] = {
        "_org": organization_id,
        "_on": today(),
        "_currency": value.currency,
        "_value": value.minor,
        "_key": key,
        "_now": utcnow(),
    }
    if brand is not None:
        params["_brand"] = brand
    for _ in range(20):
        try:
            if postgres:
                # Two workers allocating for one key at once: the unique key refuses the
                # second; the savepoint keeps its transaction usable to read the first's code.
                with session.begin_nested():
                    row = session.execute(take, params).first()
            else:
                row = session.execute(take, params).first()  # SQLite: writers take turns
        except IntegrityError:
            return allocation(session, key, box)
        if row is not None:
            return _allocated(row, box)
        # Nothing taken: none left, or (PostgreSQL) every candidate was locked or taken
        # between the pick and the guard; look again only while some are left.
        if session.execute(left, params).first() is None:
            return None
    return None


def _allocated(row: Any, box: CodeBox) -> Allocated:
    """``row``: the columns of ``_HANDED``."""
    return Allocated(
        id=row.id,
        brand=row.brand,
        value=Money(row.value_minor, row.currency),
        code=box.open(row.code_sealed),
        pin=box.open(row.pin_sealed) if row.pin_sealed else None,
        expires_on=row.expires_on,
        allocated_at=row.allocated_at,
    )


def allocated_keys(session: Session, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(list(keys)):
        found.update(
            k
            for k in session.scalars(
                select(InventoryCode.allocated_to).where(InventoryCode.allocated_to.in_(part))
            )
            if k is not None
        )
    return found


@cache
def _count_statement(by_brand: bool, bounded: bool) -> Executable:
    rows = select(_CODES.c.id).where(*_candidates(by_brand))
    if bounded:
        rows = rows.limit(bindparam("_limit"))
    return select(func.count()).select_from(rows.subquery())


def available_count(
    session: Session,
    organization_id: uuid.UUID,
    value: Money,
    brand: str | None = None,
    *,
    up_to: int | None = None,
) -> int:
    """Codes of ``value`` that can still be handed out (counting no further than ``up_to``)."""
    params: dict[str, Any] = {
        "_org": organization_id,
        "_on": today(),
        "_currency": value.currency,
        "_value": value.minor,
    }
    if brand is not None:
        params["_brand"] = brand
    if up_to is not None:
        params["_limit"] = up_to
    statement = _count_statement(brand is not None, up_to is not None)
    return int(session.execute(statement, params).scalar() or 0)


def lock_denomination(session: Session, organization_id: uuid.UUID, value: Money) -> None:
    """PostgreSQL: one transaction at a time judges the stock of one value (held to commit),
    so two intakes cannot both promise the last code. SQLite writers take turns anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"inventory:{organization_id}:{value}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# ---------------------------------------------------------------- stock and alerts


def stock(session: Session, organization_id: uuid.UUID, default_threshold: int) -> list[StockLevel]:
    """Every denomination the organization has codes (or a threshold) for."""
    on = today()
    expired = and_(
        InventoryCode.allocated_to.is_(None),
        InventoryCode.expires_on.is_not(None),
        InventoryCode.expires_on < on,
    )
    rows = session.execute(
        select(
            InventoryCode.brand,
            InventoryCode.currency,
            InventoryCode.value_minor,
            func.sum(case((and_(*_available(organization_id, on)), 1), else_=0)),  # type: ignore[arg-type]
            func.sum(case((InventoryCode.allocated_to.is_not(None), 1), else_=0)),
            func.sum(case((expired, 1), else_=0)),
        )
        .where(InventoryCode.organization_id == organization_id)
        .group_by(InventoryCode.brand, InventoryCode.currency, InventoryCode.value_minor)
    )
    counts = {(b, c, v): (int(a or 0), int(al or 0), int(ex or 0)) for b, c, v, a, al, ex in rows}
    settings = {
        (s.brand, s.currency, s.value_minor): s
        for s in session.scalars(
            select(InventoryStock).where(InventoryStock.organization_id == organization_id)
        )
    }
    levels = []
    for key in sorted(set(counts) | set(settings)):
        available, allocated, expired_n = counts.get(key, (0, 0, 0))
        row = settings.get(key)
        threshold = (
            row.threshold if row is not None and row.threshold is not None else default_threshold
        )
        levels.append(
            StockLevel(
                brand=key[0],
                currency=key[1],
                value_minor=key[2],
                available=available,
                allocated=allocated,
                expired=expired_n,
                threshold=threshold,
                low=available < threshold,
                low_since=row.low_since if row is not None else None,
            )
        )
    return levels


def set_threshold(
    session: Session,
    organization_id: uuid.UUID,
    brand: str,
    value: Money,
    threshold: int | None,
    *,
    actor: str,
    default_threshold: int,
) -> StockLevel:
    if threshold is not None and threshold < 0:
        raise field_error("threshold", "must be zero or more")
    _ensure_rows(session, organization_id, [(brand, value.currency, value.minor)])
    session.execute(
        update(InventoryStock)
        .where(
            InventoryStock.organization_id == organization_id,
            InventoryStock.brand == brand,
            InventoryStock.currency == value.currency,
            InventoryStock.value_minor == value.minor,
        )
        .values(threshold=threshold, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="inventory:threshold:update",
        target_type="inventory_stock",
        target_id=f"{brand}:{value.minor}:{value.currency}",
        details={"brand": brand, **value.to_json(), "threshold": threshold},
    )
    refresh_alerts(
        session, organization_id, [(brand, value.currency, value.minor)], actor, default_threshold
    )
    return next(
        s
        for s in stock(session, organization_id, default_threshold)
        if (s.brand, s.currency, s.value_minor) == (brand, value.currency, value.minor)
    )


def _ensure_rows(
    session: Session, organization_id: uuid.UUID, denominations: Iterable[Denomination]
) -> None:
    now = utcnow()
    for brand, currency, value_minor in denominations:
        insert_ignore(
            session,
            InventoryStock.__table__,  # type: ignore[arg-type]
            {
                "id": uuid7(),
                "organization_id": organization_id,
                "created_at": now,
                "brand": brand,
                "currency": currency,
                "value_minor": value_minor,
                "threshold": None,
                "low_since": None,
                "updated_at": now,
            },
            ["organization_id", "brand", "currency", "value_minor"],
        )


_STOCK_ROW = select(InventoryStock).where(
    InventoryStock.organization_id == bindparam("_org"),
    InventoryStock.brand == bindparam("_brand"),
    InventoryStock.currency == bindparam("_currency"),
    InventoryStock.value_minor == bindparam("_value"),
)


def refresh_alerts(
    session: Session,
    organization_id: uuid.UUID,
    denominations: Iterable[Denomination],
    actor: str,
    default_threshold: int,
) -> None:
    """Raise (or clear) the low-stock alert of each denomination: one audit entry per
    crossing, written by whichever transaction moves ``low_since`` first."""
    wanted = sorted(set(denominations))
    if not wanted:
        return
    now = utcnow()
    for brand, currency, value_minor in wanted:
        value = Money(value_minor, currency)
        where = {"_org": organization_id, "_brand": brand, "_currency": currency}
        where["_value"] = value_minor
        row = session.scalar(_STOCK_ROW, where)
        if row is None:
            _ensure_rows(session, organization_id, [(brand, currency, value_minor)])
            row = session.scalar(_STOCK_ROW, where)
        assert row is not None
        threshold = row.threshold if row.threshold is not None else default_threshold
        # Counting stops at the threshold: the answer is only ever "below it, and how far".
        available = available_count(session, organization_id, value, brand, up_to=threshold)
        low = available < threshold
        if low == (row.low_since is not None):
            continue
        guard = InventoryStock.low_since.is_(None) if low else InventoryStock.low_since.is_not(None)
        moved = session.execute(
            update(InventoryStock)
            .where(InventoryStock.id == row.id, guard)
            .values(low_since=now if low else None, updated_at=now)
            .returning(InventoryStock.id)
            .execution_options(synchronize_session=False)
        ).first()
        if moved is None:
            continue
        audit.record(
            session,
            organization_id=organization_id,
            actor=actor,
            action="inventory:stock:low" if low else "inventory:stock:replenished",
            target_type="inventory_stock",
            target_id=f"{brand}:{value_minor}:{currency}",
            details={"brand": brand, **value.to_json(), "threshold": threshold}
            | ({"available": available} if low else {}),
        )
        if low:
            notifications.alert_admins(
                session,
                organization_id,
                "inventory_low",
                {
                    "item_brand": brand,
                    "value": {"minor": value.minor, "currency": value.currency},
                    "available": available,
                    "threshold": threshold,
                },
            )


def deployment_stock(
    session: Session, default_threshold: int
) -> list[tuple[uuid.UUID, StockLevel]]:
    """Every organization's stock levels (for the metrics scrape)."""
    orgs = session.scalars(select(InventoryCode.organization_id).distinct())
    return [(org, level) for org in list(orgs) for level in stock(session, org, default_threshold)]
