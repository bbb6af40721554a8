"""HTTP for the catalog: items (list, create, edit, deactivate) and provider sync."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from laurel.catalog import service
from laurel.catalog.models import ItemKind
from laurel.catalog.schemas import ItemCreate, ItemOut, ItemUpdate, SyncOut
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.http import DatabaseDep, LiveAdmin, Reader, errors, read_only, unit_of_work
from laurel.programs.models import DeliveryModel

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])


def registry(request: Request) -> ProviderRegistry:
    """The providers this process issues through (the worker's registry)."""
    found: ProviderRegistry = request.app.state.worker.providers
    return found


@router.get(
    "/items",
    response_model=list[ItemOut],
    responses=errors(401, 403, 422),
    summary="Catalog items, by brand",
)
def list_items(
    actor: Reader,
    db: DatabaseDep,
    provider: str | None = None,
    kind: ItemKind | None = None,
    offered: bool | None = None,
) -> list[ItemOut]:
    with read_only(db) as session:
        items = service.list_items(session, actor, provider=provider, kind=kind, offered=offered)
        return [ItemOut.of(i) for i in items]


@router.post(
    "/items",
    response_model=ItemOut,
    status_code=201,
    responses=errors(401, 403, 409, 422),
    summary="Add an item by hand (sync never changes it)",
)
def create_item(body: ItemCreate, actor: LiveAdmin, db: DatabaseDep, request: Request) -> ItemOut:
    # Not the link channel: it delivers links, it issues nothing a learner could choose.
    names = [n for n in registry(request).names() if n != DeliveryModel.link]
    with unit_of_work(db) as session:
        return ItemOut.of(service.create(session, actor, body, names))


@router.get(
    "/items/{item_id}",
    response_model=ItemOut,
    responses=errors(401, 403, 404),
    summary="A catalog item",
)
def get_item(item_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> ItemOut:
    with read_only(db) as session:
        return ItemOut.of(service.get(session, actor, item_id))


@router.patch(
    "/items/{item_id}",
    response_model=ItemOut,
    responses=errors(401, 403, 404, 422),
    summary="Change an item; an edit to a synced item stands until its provider changes it",
)
def update_item(item_id: uuid.UUID, body: ItemUpdate, actor: LiveAdmin, db: DatabaseDep) -> ItemOut:
    with unit_of_work(db) as session:
        return ItemOut.of(service.update(session, actor, item_id, body))


@router.post(
    "/items/{item_id}/deactivate",
    response_model=ItemOut,
    responses=errors(401, 403, 404),
    summary="Stop offering an item (links already redeemed keep it)",
)
def deactivate_item(item_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep) -> ItemOut:
    with unit_of_work(db) as session:
        return ItemOut.of(service.deactivate(session, actor, item_id))


@router.post(
    "/sync",
    response_model=SyncOut,
    responses=errors(401, 403),
    summary="Sync this organization's catalog from every provider that has one",
    description="Idempotent: a second sync changes nothing. Items a provider no longer lists "
    "stop being offered (`available: false`); a provider that cannot be asked keeps its items.",
)
def sync_catalog(actor: LiveAdmin, db: DatabaseDep, request: Request) -> SyncOut:
    fetched = service.fetch(registry(request))  # before the transaction: providers are slow
    with unit_of_work(db) as session:
        return SyncOut(
            providers=service.apply(session, actor.organization_id, fetched, actor=actor.name)
        )
