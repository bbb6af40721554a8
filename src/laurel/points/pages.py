"""Learner pages: wallet, history, badges and leaderboard (Jinja2, white-labelled, translated).

A page is served to a signed-in learner (``laurel.portal``: an emailed sign-in link and a
session cookie) and shows that learner's own data only: no page takes a learner id. A browser
without a session is sent to the sign-in page. The language is ``?lang=``, else the learner's
locale, else the browser's Accept-Language, else English. The marketplace is in
:mod:`laurel.points.market_pages`.
"""

from __future__ import annotations

import re
import uuid
from functools import cache
from typing import Annotated, Any

from babel.dates import format_date
from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from laurel.auth.permissions import NOBODY
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.http import (
    LEARNER_COOKIE,
    LEARNER_CSRF_COOKIE,
    SESSION_COOKIE,
    DatabaseDep,
    read_only,
)
from laurel.kit.http import LearnerSelf as Reader
from laurel.learners import service as learners
from laurel.organizations import service as organizations
from laurel.points import badges, i18n, leaderboards, ledger
from laurel.points.leaderboards import BoardScope
from laurel.points.models import TransactionKind

SIGN_IN_ORG_COOKIE = "laurel_learner_org"
"""The organization a browser last signed in to (not a secret): where to send it to sign in."""


def sign_in_path(request: Request) -> str:
    """The sign-in page of the organization this browser last signed in to, else the one that
    asks for the organization."""
    slug = request.cookies.get(SIGN_IN_ORG_COOKIE, "")
    if slug and slug.isascii() and slug.replace("-", "").isalnum():
        return f"/portal/{slug}/sign-in"
    return "/portal/sign-in"


def need_learner(request: Request) -> None:
    """A browser opening a learner page without any session is sent to the sign-in page
    (303); other clients get the API's 401 from the route's own dependency."""
    if request.cookies.get(LEARNER_COOKIE) or request.headers.get("authorization"):
        return
    if request.cookies.get(SESSION_COOKIE):
        return
    if request.method != "GET" or "text/html" not in request.headers.get("accept", ""):
        return
    raise HTTPException(
        status.HTTP_303_SEE_OTHER, "sign in first", headers={"Location": sign_in_path(request)}
    )


router = APIRouter(
    prefix="/points",
    tags=["points pages"],
    include_in_schema=False,
    dependencies=[Depends(need_learner)],
)

_COLOR = re.compile(r"^#[0-9a-fA-F]{3,8}$")
_KINDS = {
    TransactionKind.earn: "Earned",
    TransactionKind.bonus: "Streak bonus",
    TransactionKind.grant: "Granted",
    TransactionKind.redeem: "Redeemed",
    TransactionKind.refund: "Returned",
    TransactionKind.reversal: "Reversed",
    TransactionKind.expire: "Expired",
}

Lang = Annotated[str | None, Query(description="en, es, fr, de, pt_BR or ja")]
AcceptLanguage = Annotated[str | None, Header()]


@cache
def environment(language: str) -> Environment:
    """One environment per language, its gettext installed once (environments are shared by
    request threads, so nothing is installed per request)."""
    env = Environment(
        loader=PackageLoader("laurel.points", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    found = i18n.catalog(language)
    env.install_gettext_callables(found.gettext, found.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def brand_of(session: Session, organization_id: uuid.UUID) -> dict[str, str | None]:
    """The organization's white label for learner pages: name, logo and a safe CSS colour."""
    org = organizations.get(session, organization_id)
    brand = org.brand or {}
    color = str(brand.get("primary_color") or brand.get("color") or "")
    return {
        "name": str(brand.get("name") or org.name),
        "logo_url": brand.get("logo_url"),
        "color": color if _COLOR.match(color) else "#1f5fbf",
    }


class Page:
    """What every learner page needs: the learner, the language, the brand and the navigation."""

    def __init__(
        self,
        session: Session,
        actor: Actor,
        lang: str | None,
        accept: str | None,
        request: Request | None = None,
    ) -> None:
        # The actor is narrowed to one learner by the permission table: a learner session
        # names its learner; anything else sees no learner at all (404).
        person = learners.get(session, actor, actor.learner_id or NOBODY)
        self.person = person
        self.learner_id = person.id
        self.language = i18n.negotiate(lang, person.locale, accept)
        self.catalog = i18n.catalog(self.language)
        self.brand = brand_of(session, actor.organization_id)
        self.lang = lang
        self.query = f"lang={lang}" if lang else ""
        self.csrf_token = request.cookies.get(LEARNER_CSRF_COOKIE, "") if request else ""

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.language)

    def date(self, value: Any) -> str:
        return format_date(value, format="medium", locale=self.language)

    def link(self, path: str) -> str:
        return f"{path}?{self.query}" if self.query else path

    def render(
        self, template: str, page: str, title: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        return render_page(
            self.language,
            template,
            title,
            brand=self.brand,
            status_code=status_code,
            nav=NAV,
            links={key: self.link(f"/points/{key}") for key, _label in NAV},
            page=page,
            signed_in=True,
            csrf_token=self.csrf_token,
            **context,
        )


NAV = [
    ("wallet", "Wallet"),
    ("history", "History"),
    ("badges", "Badges"),
    ("leaderboard", "Leaderboard"),
    ("marketplace", "Marketplace"),
]
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def render_page(
    language: str,
    template: str,
    title: str,
    *,
    brand: dict[str, str | None],
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A learner page in ``language``: the template, the brand, the translated title."""
    found = i18n.catalog(language)
    html = (
        environment(language)
        .get_template(template)
        .render(
            html_lang=language.replace("_", "-"),
            brand=brand,
            title=found.gettext(title),
            **context,
        )
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={**HEADERS, "Content-Language": language.replace("_", "-")},
    )


@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = Page(session, actor, lang, accept_language, request)
        learner = page.learner_id
        scope = ledger.Scope(actor.organization_id, actor.livemode)
        lots = ledger.expiring(session, scope, learner)
        return page.render(
            "wallet.html",
            "wallet",
            "Wallet",
            balance=page.number(ledger.balance(session, scope, learner)),
            expiring=[{"points": page.number(p), "date": page.date(when)} for p, when in lots],
        )


@router.get("/history", response_class=HTMLResponse)
def history_page(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    lang: Lang = None,
    cursor: uuid.UUID | None = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = Page(session, actor, lang, accept_language, request)
        learner = page.learner_id
        scope = ledger.Scope(actor.organization_id, actor.livemode)
        found = ledger.history(session, scope, learner, limit=50, cursor=cursor)
        _ = page.catalog.gettext
        rows = [
            {
                "date": page.date(t.occurred_at),
                "kind": _(_KINDS.get(TransactionKind(t.kind), t.kind)),
                "memo": t.memo,
                "points": ("+" if t.points > 0 else "") + page.number(t.points),
            }
            for t in found.items
        ]
        older = (
            page.link("/points/history")
            + ("&" if page.query else "?")
            + f"cursor={found.next_cursor}"
            if found.next_cursor
            else None
        )
        return page.render("history.html", "history", "History", rows=rows, older=older)


@router.get("/badges", response_class=HTMLResponse)
def badges_page(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = Page(session, actor, lang, accept_language, request)
        learner = page.learner_id
        scope = ledger.Scope(actor.organization_id, actor.livemode)
        awards = [
            {
                "name": badge.name,
                "description": badge.description,
                "date": page.date(award.awarded_at),
                "credential": f"/api/v1/points/awards/{award.id}/credential",
            }
            for award, badge in badges.awards_of(session, scope, learner)
        ]
        return page.render("badges.html", "badges", "Badges", awards=awards)


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_page(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    period: Annotated[str | None, Query(description="Default: this year")] = None,
    lang: Lang = None,
    scope: BoardScope = BoardScope.organization,
    department: str | None = None,
    program_id: uuid.UUID | None = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = Page(session, actor, lang, accept_language, request)
        learner = page.learner_id
        period = period or str(utcnow().year)
        board = leaderboards.leaderboard(
            session,
            ledger.Scope(actor.organization_id, actor.livemode),
            board=scope,
            period=period,
            department=department,
            program_id=program_id,
            viewer=learner,
        )
        places = [
            {"rank": p.rank, "name": p.name, "points": page.number(p.points), "you": p.you}
            for p in board.places
        ]
        you = (
            {"rank": board.you.rank, "you_listed": any(p.you for p in board.places)}
            if board.you
            else None
        )
        return page.render(
            "leaderboard.html", "leaderboard", "Leaderboard", period=period, places=places, you=you
        )
