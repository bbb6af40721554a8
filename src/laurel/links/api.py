"""HTTP for reward links: the learner's page (``/r/{token}``) and the admin calls.

The page POST is guarded by a per-link form token. The provider is called between two short
transactions (see :mod:`laurel.links.service`), never while one is open.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from laurel.catalog import conversions
from laurel.catalog.api import registry
from laurel.catalog.schemas import ChoiceOut, ItemOut, money_out
from laurel.config import Settings
from laurel.delivery.providers import PermanentProviderError, TransientProviderError
from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.kit.errors import Invalid
from laurel.kit.http import (
    Admin,
    DatabaseDep,
    LiveAdmin,
    Reader,
    errors,
    read_only,
    unit_of_work,
)
from laurel.learners import service as learners
from laurel.links import pages as page
from laurel.links import service, tokens
from laurel.links.schemas import LinkOut, LinkSettingsIn, LinkSettingsOut
from laurel.programs import service as programs
from laurel.rewards import service as rewards

log = logging.getLogger("laurel.links")

router = APIRouter(prefix="/api/v1", tags=["reward links"])
pages = APIRouter(tags=["reward link pages"])


def _settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


# ---------------------------------------------------------------- admin API


@router.get(
    "/rewards/{reward_id}/link",
    response_model=LinkOut,
    responses=errors(401, 403, 404),
    summary="A link reward's current link, with its URL (admin keys: the URL pays)",
)
def get_link(reward_id: uuid.UUID, actor: Admin, db: DatabaseDep, request: Request) -> LinkOut:
    settings = _settings(request)
    with read_only(db) as session:
        link = service.get_link(session, actor, reward_id)
        return LinkOut.of(
            link,
            service.url_of(settings.public_url, settings.secret_key, link),
            conversions.for_reward(session, actor.organization_id, reward_id),
        )


@router.post(
    "/rewards/{reward_id}/link/reissue",
    response_model=LinkOut,
    responses=errors(401, 403, 404, 409),
    summary="Send a new link; the old one stops working at once",
    description="For a link that expired or was lost. A redeemed link is never reissued.",
)
def reissue_link(reward_id: uuid.UUID, actor: Admin, db: DatabaseDep, request: Request) -> LinkOut:
    settings = _settings(request)
    with unit_of_work(db) as session:
        link = service.reissue(
            session,
            actor,
            reward_id,
            secret=settings.secret_key,
            default_days=settings.link_lifetime_days,
        )
        return LinkOut.of(link, service.url_of(settings.public_url, settings.secret_key, link))


@router.get(
    "/rewards/{reward_id}/choices",
    response_model=list[ChoiceOut],
    responses=errors(401, 403, 404),
    summary="The catalog items this reward's learner may choose today, at today's rates",
)
def list_choices(reward_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> list[ChoiceOut]:
    with read_only(db) as session:
        reward = rewards.get(session, actor, reward_id)
        person = learners.get_many(session, actor.organization_id, {reward.learner_id}).get(
            reward.learner_id
        )
        found = service.choices_for(session, reward, person, utcnow().date())
        return [
            ChoiceOut(
                item=ItemOut.of(c.item),
                receives=money_out(c.quote.amount),
                fee=money_out(c.quote.fee),
                rate=format(c.quote.rate, "f"),
                rate_date=c.quote.rate_date.isoformat() if c.quote.rate_date else None,
                rate_source=c.quote.source,
            )
            for c in found
        ]


@router.get(
    "/programs/{program_id}/link-settings",
    response_model=LinkSettingsOut,
    responses=errors(401, 403, 404),
    summary="A program's link lifetime and page brand",
)
def get_link_settings(program_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> LinkSettingsOut:
    with read_only(db) as session:
        programs.get(session, actor, program_id)
        found = service.settings_for(session, actor.organization_id, program_id)
        return LinkSettingsOut.of(program_id, found)


@router.put(
    "/programs/{program_id}/link-settings",
    response_model=LinkSettingsOut,
    responses=errors(401, 403, 404, 422),
    summary="Set a program's link lifetime and page brand (new links use them)",
)
def put_link_settings(
    program_id: uuid.UUID, body: LinkSettingsIn, actor: LiveAdmin, db: DatabaseDep
) -> LinkSettingsOut:
    with unit_of_work(db) as session:
        found = service.put_settings(
            session,
            actor,
            program_id,
            lifetime_days=body.lifetime_days,
            brand=body.brand.model_dump(exclude_none=True),
        )
        return LinkSettingsOut.of(program_id, found)


# ---------------------------------------------------------------- the learner's page


def _language(request: Request, view: service.View | None) -> str:
    """``?lang=``, else the learner's locale, else the browser's languages, else English."""
    chosen = request.query_params.get("lang")
    learner = view.learner.locale if view and view.learner else None
    return page.choose_locale(
        chosen, learner, *page.accept_language(request.headers.get("accept-language"))
    )


def _ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.key_ring
    return ring


def _html(shown: page.Page, status: int = 200) -> HTMLResponse:
    return HTMLResponse(page.render(shown), status_code=status, headers=page.HEADERS)


@pages.get(
    "/r/{token}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such link (an HTML page)"}},
    summary="The learner's reward page: choose, see what was redeemed, or learn it expired",
)
def open_link(token: str, request: Request, db: DatabaseDep) -> HTMLResponse:
    settings = _settings(request)
    now = utcnow()
    lease = timedelta(seconds=settings.link_redeem_lease_seconds)
    try:
        with db.session() as session:
            view = service.visit(
                session, token, now=now, lease=lease, on=now.date(), ring=_ring(request)
            )
            return _html(
                page.Page(
                    locale=_language(request, view),
                    view=view,
                    state=view.state,
                    form_token=tokens.form_token(settings.secret_key, view.link.id),
                )
            )
    except service.LinkNotFound:
        return _html(page.Page(locale=_language(request, None)), 404)


@pages.post(
    "/r/{token}",
    response_class=HTMLResponse,
    status_code=303,
    responses={
        303: {"description": "Redeemed (or already handled): see the page"},
        400: {"description": "The form is out of date"},
        404: {"description": "No such link"},
        422: {"description": "No valid choice was made"},
    },
    summary="Redeem the link for the chosen item (exactly once)",
)
def redeem_link(
    token: str,
    request: Request,
    db: DatabaseDep,
    form_token: Annotated[str | None, Form()] = None,
    item_id: Annotated[uuid.UUID | None, Form()] = None,
) -> Response:
    settings = _settings(request)
    now = utcnow()
    lease = timedelta(seconds=settings.link_redeem_lease_seconds)
    error: str | None = None
    try:
        with db.session() as session:
            claim = service.claim(
                session,
                token,
                item_id=item_id,
                form_token=form_token,
                secret=settings.secret_key,
                now=now,
                lease=lease,
                on=now.date(),
            )
    except service.LinkNotFound:
        return _html(page.Page(locale=_language(request, None)), 404)
    except (service.StaleForm, Invalid) as exc:
        claim = None
        error = exc.detail if isinstance(exc.detail, str) else exc.detail[0]["message"]
        status = 400 if isinstance(exc, service.StaleForm) else 422
    if claim is not None:
        _issue(db, request, claim)
    if error is None:
        return RedirectResponse(request.url.path, status_code=303, headers=page.HEADERS)
    with db.session() as session:
        view = service.view(
            session,
            service.find(session, token),
            now=now,
            lease=lease,
            on=now.date(),
            ring=_ring(request),
        )
        locale = _language(request, view)
        shown = page.Page(
            locale=locale,
            view=view,
            state=view.state,
            form_token=tokens.form_token(settings.secret_key, view.link.id),
            error=page.translator(locale).gettext(error),
        )
    return _html(shown, status)


def _issue(db: DatabaseDep, request: Request, claim: service.Claim) -> None:
    """Call the chosen item's provider for a claimed link and record what happened."""
    try:
        issued = registry(request).get(claim.provider).issue(claim.order)
    except PermanentProviderError as exc:
        with db.session() as session:
            service.record_failure(
                session, claim.link_id, f"{claim.provider}: {exc}", permanent=True
            )
        return
    except (TransientProviderError, Exception) as exc:  # retried after the lease, same item
        log.warning("redeeming link %s through %s failed: %s", claim.link_id, claim.provider, exc)
        with db.session() as session:
            service.record_failure(
                session, claim.link_id, f"{claim.provider}: {exc}", permanent=False
            )
        return
    with db.session() as session:
        service.record_redeemed(session, claim.link_id, claim.provider, issued, ring=_ring(request))
