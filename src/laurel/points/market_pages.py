"""The marketplace page: a signed-in learner spends points on catalog items.

Offers are those of :mod:`laurel.points.marketplace` whose catalog item is active and valid in
the learner's country, at the price fixed when the offer was made (the organization's points
rate). Each rendering of the page gives every offer a fresh request key (a hidden field): a form
posted twice, by a double click or a reload, carries the same key, and the marketplace answers a
repeated key with the first redemption, so points are never spent twice.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from laurel.catalog import service as catalog
from laurel.db import Database
from laurel.i18n import format_money
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError, NotFound
from laurel.kit.http import DatabaseDep, read_only, unit_of_work
from laurel.kit.http import LearnerSelf as Learner
from laurel.kit.money import Money
from laurel.points import ledger, marketplace, setup
from laurel.points.ledger import InsufficientPoints
from laurel.points.marketplace import MarketplaceClosed, OfferNotFound
from laurel.points.models import Redemption
from laurel.points.pages import AcceptLanguage, Lang, Page, need_learner

router = APIRouter(
    prefix="/points",
    tags=["points pages"],
    include_in_schema=False,
    dependencies=[Depends(need_learner)],
)


def _marketplace(
    session: Session, page: Page, actor_org: uuid.UUID, *, error: str | None = None
) -> HTMLResponse:
    scope = ledger.Scope(actor_org, True)
    balance = ledger.balance(session, scope, page.learner_id)
    closed = setup.get(session, actor_org).redemption_program_id is None
    offers = []
    for offer in marketplace.list_offers(session, actor_org):
        item = catalog.by_id(session, actor_org, offer.catalog_item_id)
        if item is None or not item.active or item.withdrawn_at is not None:
            continue
        if not catalog.valid_in(item, page.person.country):
            continue
        offers.append(
            {
                "id": offer.id,
                "name": offer.name,
                "value": format_money(Money(offer.value_minor, offer.currency), page.language),
                "points": page.number(offer.points),
                "affordable": balance >= offer.points,
                "request_key": f"portal:{uuid.uuid4()}",
            }
        )
    return page.render(
        "marketplace.html",
        "marketplace",
        "Marketplace",
        status_code=status.HTTP_409_CONFLICT if error else status.HTTP_200_OK,
        balance=page.number(balance),
        offers=offers,
        closed=closed,
        error=error,
        query=f"?{page.query}" if page.query else "",
    )


@router.get("/marketplace", response_class=HTMLResponse)
def marketplace_page(
    request: Request,
    actor: Learner,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = Page(session, actor, lang, accept_language, request)
        return _marketplace(session, page, actor.organization_id)


def _redeem(
    db: Database,
    request: Request,
    actor: Actor,
    offer_id: uuid.UUID,
    request_key: str,
    lang: str | None,
    accept: str | None,
) -> str:
    """Redeem once per request key; answers where the result is shown."""
    for attempt in (1, 2):
        try:
            with unit_of_work(db) as session:
                page = Page(session, actor, lang, accept, request)
                # The key is the learner's own: another learner's form can never replay into
                # this redemption (the marketplace refuses a key reused for another learner).
                redemption = marketplace.redeem(
                    session,
                    actor,
                    learner_id=page.learner_id,
                    offer_id=offer_id,
                    request_key=f"{request_key}:{page.learner_id}",
                )
                return page.link(f"/points/redemptions/{redemption.id}")
        except IntegrityError:
            # The same form posted twice at once: the other request stored the redemption
            # first (unique request key). The second attempt finds and shows it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@router.post("/marketplace/redeem", response_class=HTMLResponse)
def redeem_offer(
    request: Request,
    actor: Learner,
    db: DatabaseDep,
    offer_id: Annotated[uuid.UUID, Form()],
    request_key: Annotated[str, Form(min_length=8, max_length=100, pattern=r"^portal:[\w-]+$")],
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    """Spend points on an offer (CSRF token checked by the dependency), then show the result."""
    problem: str | None = None
    try:
        target = _redeem(db, request, actor, offer_id, request_key, lang, accept_language)
    except InsufficientPoints:
        problem = "You do not have enough points for this item."
    except MarketplaceClosed:
        problem = "The marketplace is not open yet."
    except OfferNotFound:
        problem = "This item is no longer offered."
    except AppError as exc:
        if isinstance(exc, NotFound):
            raise
        problem = "This item cannot be redeemed right now."
    if problem is not None:
        with read_only(db) as session:
            page = Page(session, actor, lang, accept_language, request)
            return _marketplace(
                session, page, actor.organization_id, error=page.catalog.gettext(problem)
            )
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/redemptions/{redemption_id}", response_class=HTMLResponse)
def redemption_page(
    redemption_id: uuid.UUID,
    request: Request,
    actor: Learner,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = Page(session, actor, lang, accept_language, request)
        found: Redemption = marketplace.get_redemption(session, actor, redemption_id)
        if found.learner_id != page.learner_id:
            # Another learner's redemption does not exist for this one.
            raise NotFound(f"no redemption {redemption_id}")
        offer = marketplace.get_offer(session, actor.organization_id, found.offer_id)
        return page.render(
            "redemption.html",
            "marketplace",
            "Your redemption",
            name=offer.name if offer else "",
            value=format_money(Money(found.value_minor, found.currency), page.language),
            points=page.number(found.points),
            state=found.state,
            back=page.link("/points/marketplace"),
        )
