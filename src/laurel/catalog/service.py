"""The catalog: items synced from providers or entered by admins, and the choices a learner has.

Sync is idempotent: an item is rewritten only when its provider's description changed since
the last sync (``offer_hash``), so a second sync changes nothing and an admin's edit stands
until the provider changes the item. Items a provider stopped listing are withdrawn (no longer
offered), never deleted: links and conversions refer to them.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.catalog import pricing
from laurel.catalog.models import CatalogItem, ItemKind, ItemSource
from laurel.catalog.schemas import ItemCreate, ItemUpdate, ProviderSync
from laurel.delivery.providers import CatalogOffer, ProviderRegistry
from laurel.kit import currency as currencies
from laurel.kit.actor import Actor
from laurel.kit.canonical import canonical_json
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, Invalid, NotFound
from laurel.kit.money import Money

log = logging.getLogger("laurel.catalog")


class ItemNotFound(NotFound):
    code = "catalog_item_not_found"


class DuplicateItem(Conflict):
    code = "catalog_item_exists"


# ---------------------------------------------------------------- sync


@dataclass(frozen=True, slots=True)
class Fetched:
    """One provider's answer to ``catalog()``: its offers, or why it could not be asked."""

    provider: str
    offers: list[CatalogOffer] | None
    error: str | None = None


def fetch(registry: ProviderRegistry) -> list[Fetched]:
    """Ask every configured provider that has a catalog. Outside any transaction: it is I/O."""
    fetched = []
    for name in registry.names():
        provider = registry.get(name)
        catalog = getattr(provider, "catalog", None)
        if not callable(catalog):
            continue
        try:
            fetched.append(Fetched(name, list(catalog())))
        except Exception as exc:  # one provider down must not stop the others' sync
            log.warning("catalog of provider %s unavailable: %s", name, exc)
            fetched.append(Fetched(name, None, f"{type(exc).__name__}: {exc}"))
    return fetched


def _offer_problem(offer: CatalogOffer) -> str | None:
    if offer.kind not in set(ItemKind):
        return f"{offer.sku}: unknown kind {offer.kind!r}"
    if not currencies.is_known(offer.currency):
        return f"{offer.sku}: unknown currency {offer.currency!r}"
    ranged = offer.min_minor is not None and offer.max_minor is not None
    if bool(offer.fixed_values_minor) == ranged:
        return f"{offer.sku}: needs either fixed values or a min and max"
    if ranged and not 0 < offer.min_minor <= offer.max_minor:  # type: ignore[operator]
        return f"{offer.sku}: min must be positive and not above max"
    if any(v <= 0 for v in offer.fixed_values_minor):
        return f"{offer.sku}: fixed values must be positive"
    return None


def _offer_fields(offer: CatalogOffer) -> dict[str, Any]:
    return {
        "brand": offer.brand[:200],
        "kind": offer.kind,
        "currency": offer.currency,
        "countries": sorted({c.upper() for c in offer.countries}),
        "fixed_values_minor": sorted(set(offer.fixed_values_minor)),
        "min_minor": offer.min_minor,
        "max_minor": offer.max_minor,
        "image_url": offer.image_url,
    }


def _hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def apply(
    session: Session, organization_id: uuid.UUID, fetched: Iterable[Fetched], *, actor: str
) -> list[ProviderSync]:
    """Upsert one organization's items from fetched offers; withdraw what a provider dropped.

    A provider that could not be asked keeps its items as they are.
    """
    now = utcnow()
    results = []
    for answer in fetched:
        result = ProviderSync(provider=answer.provider, error=answer.error)
        results.append(result)
        if answer.offers is None:
            continue
        existing = {
            item.sku: item
            for item in session.scalars(
                select(CatalogItem)
                .where(
                    CatalogItem.organization_id == organization_id,
                    CatalogItem.provider == answer.provider,
                )
                .with_for_update()
            )
        }
        seen: set[str] = set()
        for offer in answer.offers:
            problem = _offer_problem(offer)
            if problem is not None or offer.sku in seen:
                result.skipped.append(problem or f"{offer.sku}: listed twice")
                continue
            seen.add(offer.sku)
            fields = _offer_fields(offer)
            digest = _hash(fields)
            item = existing.get(offer.sku)
            if item is None:
                item = CatalogItem(
                    organization_id=organization_id,
                    provider=answer.provider,
                    sku=offer.sku,
                    source=ItemSource.sync,
                    offer_hash=digest,
                    synced_at=now,
                    updated_at=now,
                    active=True,
                    **fields,
                )
                session.add(item)
                session.flush()
                _audit(session, item, actor, "create", {"source": "sync", **fields})
                result.created += 1
            elif item.source == ItemSource.manual:
                result.skipped.append(f"{offer.sku}: entered by hand; sync leaves it alone")
            elif item.offer_hash != digest or item.withdrawn_at is not None:
                changes = {k: v for k, v in fields.items() if getattr(item, k) != v}
                for key, value in fields.items():
                    setattr(item, key, value)
                relisted = item.withdrawn_at is not None
                item.withdrawn_at = None
                item.offer_hash = digest
                item.synced_at = item.updated_at = now
                _audit(session, item, actor, "sync", {"changes": changes, "relisted": relisted})
                result.updated += 1
            else:
                result.unchanged += 1
        for sku, item in existing.items():
            if sku not in seen and item.source == ItemSource.sync and item.withdrawn_at is None:
                item.withdrawn_at = item.updated_at = now
                _audit(session, item, actor, "withdraw", {"reason": "dropped by the provider"})
                result.withdrawn += 1
    session.flush()
    return results


def _audit(
    session: Session, item: CatalogItem, actor: str, verb: str, details: dict[str, Any]
) -> None:
    audit.record(
        session,
        organization_id=item.organization_id,
        actor=actor,
        action=f"catalog:item:{verb}",
        target_type="catalog_item",
        target_id=item.id,
        details={"provider": item.provider, "sku": item.sku, **details},
    )


# ---------------------------------------------------------------- admin edits


def _values(
    code: str,
    fixed: list[str] | None,
    low: str | None,
    high: str | None,
    errors: list[dict[str, str]],
) -> tuple[list[int], int | None, int | None]:
    def parse(text: str, field: str) -> int | None:
        try:
            minor = Money.parse(text, code).minor
        except ValueError as exc:
            errors.append({"field": field, "message": str(exc), "type": "value_error"})
            return None
        if minor <= 0:
            errors.append({"field": field, "message": "must be above zero", "type": "value_error"})
            return None
        return minor

    values = [parse(v, f"fixed_values[{i}]") for i, v in enumerate(fixed or [])]
    min_minor = parse(low, "min_value") if low is not None else None
    max_minor = parse(high, "max_value") if high is not None else None
    ranged = low is not None or high is not None
    if fixed and ranged:
        errors.append(
            {
                "field": "fixed_values",
                "message": "give fixed_values or min_value and max_value, not both",
                "type": "value_error",
            }
        )
    elif not fixed and not ranged:
        errors.append(
            {
                "field": "fixed_values",
                "message": "an item needs fixed_values or a min_value and max_value",
                "type": "value_error",
            }
        )
    elif ranged and (low is None or high is None):
        missing = "min_value" if low is None else "max_value"
        errors.append(
            {"field": missing, "message": "a range needs both ends", "type": "value_error"}
        )
    elif min_minor is not None and max_minor is not None and min_minor > max_minor:
        errors.append(
            {"field": "min_value", "message": "must not be above max_value", "type": "value_error"}
        )
    return sorted({v for v in values if v is not None}), min_minor, max_minor


def _check_currency(code: str, errors: list[dict[str, str]]) -> bool:
    if currencies.is_known(code) and code != currencies.POINTS:
        return True
    errors.append(
        {"field": "currency", "message": f"{code!r} is not an ISO 4217 code", "type": "value_error"}
    )
    return False


def create(
    session: Session, actor: Actor, data: ItemCreate, providers: Collection[str]
) -> CatalogItem:
    errors: list[dict[str, str]] = []
    if data.provider not in providers:
        errors.append(
            {
                "field": "provider",
                "message": f"no provider {data.provider!r}; configured: {', '.join(providers)}",
                "type": "value_error",
            }
        )
    values: tuple[list[int], int | None, int | None] = ([], None, None)
    if _check_currency(data.currency, errors):
        values = _values(data.currency, data.fixed_values, data.min_value, data.max_value, errors)
    if errors:
        raise Invalid(errors)
    if session.scalar(
        select(CatalogItem.id).where(
            CatalogItem.organization_id == actor.organization_id,
            CatalogItem.provider == data.provider,
            CatalogItem.sku == data.sku,
        )
    ):
        raise DuplicateItem(f"{data.provider} item {data.sku!r} is already in the catalog")
    now = utcnow()
    item = CatalogItem(
        organization_id=actor.organization_id,
        provider=data.provider,
        sku=data.sku,
        brand=data.brand,
        kind=data.kind,
        currency=data.currency,
        countries=sorted(set(data.countries)),
        fixed_values_minor=values[0],
        min_minor=values[1],
        max_minor=values[2],
        image_url=data.image_url,
        active=data.active,
        source=ItemSource.manual,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    _audit(session, item, actor.name, "create", {"source": "manual", **_snapshot(item)})
    return item


def _snapshot(item: CatalogItem) -> dict[str, Any]:
    return {
        "brand": item.brand,
        "kind": item.kind,
        "currency": item.currency,
        "countries": list(item.countries),
        "fixed_values_minor": list(item.fixed_values_minor),
        "min_minor": item.min_minor,
        "max_minor": item.max_minor,
        "image_url": item.image_url,
        "active": item.active,
    }


def get(session: Session, actor: Actor, item_id: uuid.UUID, *, lock: bool = False) -> CatalogItem:
    query = select(CatalogItem).where(
        CatalogItem.organization_id == actor.organization_id, CatalogItem.id == item_id
    )
    item = session.scalar(query.with_for_update() if lock else query)
    if item is None:
        raise ItemNotFound(f"no catalog item {item_id}")
    return item


def update(session: Session, actor: Actor, item_id: uuid.UUID, data: ItemUpdate) -> CatalogItem:
    item = get(session, actor, item_id, lock=True)
    given = data.model_dump(exclude_unset=True)
    errors: list[dict[str, str]] = []
    code = given.get("currency", item.currency)
    value_fields = {"fixed_values", "min_value", "max_value", "currency"}
    new: dict[str, Any] = {}
    if value_fields & given.keys() and _check_currency(code, errors):
        if {"fixed_values", "min_value", "max_value"} & given.keys():
            # Values are replaced as a whole: denominations, or a range.
            fixed = given.get("fixed_values")
            low, high = given.get("min_value"), given.get("max_value")
        else:
            # Only the currency changes: the same figures, read in the new currency.
            def text(minor: int | None) -> str | None:
                return None if minor is None else Money(minor, item.currency).format_amount()

            fixed = [t for v in item.fixed_values_minor if (t := text(v)) is not None]
            low, high = text(item.min_minor), text(item.max_minor)
        values = _values(code, fixed, low, high, errors)
        new.update(
            currency=code,
            fixed_values_minor=values[0],
            min_minor=values[1],
            max_minor=values[2],
        )
    if errors:
        raise Invalid(errors)
    for key in ("brand", "kind", "image_url", "active"):
        if key in given:
            new[key] = given[key]
    if "countries" in given:
        new["countries"] = sorted(set(given["countries"]))
    changes = {k: v for k, v in new.items() if getattr(item, k) != v}
    if changes:
        for key, value in changes.items():
            setattr(item, key, value)
        item.updated_at = utcnow()
        verb = "deactivate" if changes == {"active": False} else "update"
        _audit(session, item, actor.name, verb, {"changes": changes})
    return item


def deactivate(session: Session, actor: Actor, item_id: uuid.UUID) -> CatalogItem:
    return update(session, actor, item_id, ItemUpdate(active=False))


def list_items(
    session: Session,
    actor: Actor,
    *,
    provider: str | None = None,
    kind: ItemKind | None = None,
    offered: bool | None = None,
) -> list[CatalogItem]:
    query = select(CatalogItem).where(CatalogItem.organization_id == actor.organization_id)
    if provider is not None:
        query = query.where(CatalogItem.provider == provider)
    if kind is not None:
        query = query.where(CatalogItem.kind == kind)
    if offered is True:
        query = query.where(CatalogItem.active.is_(True), CatalogItem.withdrawn_at.is_(None))
    return list(session.scalars(query.order_by(CatalogItem.brand, CatalogItem.id)))


def by_id(session: Session, organization_id: uuid.UUID, item_id: uuid.UUID) -> CatalogItem | None:
    return session.scalar(
        select(CatalogItem).where(
            CatalogItem.organization_id == organization_id, CatalogItem.id == item_id
        )
    )


# ---------------------------------------------------------------- what a learner may choose


@dataclass(frozen=True, slots=True)
class Choice:
    item: CatalogItem
    quote: pricing.Quote


_KIND_ORDER = {k: n for n, k in enumerate(ItemKind)}


def fits(item: CatalogItem, minor: int) -> bool:
    if item.fixed_values_minor:
        return minor in item.fixed_values_minor
    return (
        item.min_minor is not None
        and item.max_minor is not None
        and item.min_minor <= minor <= item.max_minor
    )


def valid_in(item: CatalogItem, country: str | None) -> bool:
    """Charity donations are a choice everywhere; other items only where they can be used."""
    if item.kind == ItemKind.charity or not item.countries:
        return True
    return country is not None and country.upper() in item.countries


def choices(
    session: Session,
    organization_id: uuid.UUID,
    *,
    country: str | None,
    amount: Money,
    kinds: Collection[str] | None,
    on: date,
) -> list[Choice]:
    """Offered items valid in ``country`` whose value fits ``amount`` once converted into the
    item's currency at the rate of ``on``. ``kinds`` narrows non-charity items (None: all)."""
    items = session.scalars(
        select(CatalogItem).where(
            CatalogItem.organization_id == organization_id,
            CatalogItem.active.is_(True),
            CatalogItem.withdrawn_at.is_(None),
        )
    )
    quotes: dict[str, pricing.Quote | None] = {}
    found = []
    for item in items:
        if not valid_in(item, country):
            continue
        if kinds is not None and item.kind != ItemKind.charity and item.kind not in kinds:
            continue
        if item.currency not in quotes:
            try:
                quotes[item.currency] = pricing.quote(
                    session, organization_id, amount, item.currency, on
                )
            except pricing.ConversionUnavailable:
                quotes[item.currency] = None
        quoted = quotes[item.currency]
        if quoted is not None and fits(item, quoted.amount.minor):
            found.append(Choice(item, quoted))
    found.sort(key=lambda c: (_KIND_ORDER.get(ItemKind(c.item.kind), 9), c.item.brand.lower()))
    return found
