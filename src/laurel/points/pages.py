"""Learner pages: wallet, history, badges and leaderboard (Jinja2, white-labelled, translated).

Until learner sign-in exists (the governance work), a page is served to an API key of the
organization for the learner named by ``?learner=<id>``: an admin console or a portal that
already knows its learner renders or proxies it. The language is ``?lang=``, else the learner's
locale, else the browser's Accept-Language, else English.
"""

from __future__ import annotations

import re
import uuid
from functools import cache
from typing import Annotated, Any

from babel.dates import format_date
from babel.numbers import format_decimal
from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.http import DatabaseDep, Reader, read_only
from laurel.learners import service as learners
from laurel.organizations import service as organizations
from laurel.points import badges, i18n, leaderboards, ledger
from laurel.points.leaderboards import BoardScope
from laurel.points.models import TransactionKind

router = APIRouter(prefix="/points", tags=["points pages"], include_in_schema=False)

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

Learner = Annotated[uuid.UUID, Query(description="The learner the page is for")]
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


def _brand(session: Session, actor: Actor) -> dict[str, str | None]:
    org = organizations.get(session, actor.organization_id)
    brand = org.brand or {}
    color = str(brand.get("primary_color") or brand.get("color") or "")
    return {
        "name": str(brand.get("name") or org.name),
        "logo_url": brand.get("logo_url"),
        "color": color if _COLOR.match(color) else "#1f5fbf",
    }


class _Page:
    """What every page needs: the learner, the language, the brand and the navigation."""

    def __init__(
        self,
        session: Session,
        actor: Actor,
        learner_id: uuid.UUID,
        lang: str | None,
        accept: str | None,
    ) -> None:
        person = learners.get(session, actor, learner_id)
        self.language = i18n.negotiate(lang, person.locale, accept)
        self.catalog = i18n.catalog(self.language)
        self.brand = _brand(session, actor)
        self.learner_id = learner_id
        self.query = f"learner={learner_id}" + (f"&lang={lang}" if lang else "")

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.language)

    def date(self, value: Any) -> str:
        return format_date(value, format="medium", locale=self.language)

    def render(self, template: str, page: str, title: str, **context: Any) -> HTMLResponse:
        _ = self.catalog.gettext
        nav = [
            ("wallet", _("Wallet")),
            ("history", _("History")),
            ("badges", _("Badges")),
            ("leaderboard", _("Leaderboard")),
        ]
        links = {key: f"/points/{key}?{self.query}" for key, _label in nav}
        html = (
            environment(self.language)
            .get_template(template)
            .render(
                html_lang=self.language.replace("_", "-"),
                brand=self.brand,
                nav=nav,
                links=links,
                page=page,
                title=_(title),
                **context,
            )
        )
        return HTMLResponse(html, headers={"Content-Language": self.language.replace("_", "-")})


@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(
    learner: Learner,
    actor: Reader,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = _Page(session, actor, learner, lang, accept_language)
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
    learner: Learner,
    actor: Reader,
    db: DatabaseDep,
    lang: Lang = None,
    cursor: uuid.UUID | None = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = _Page(session, actor, learner, lang, accept_language)
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
            f"/points/history?{page.query}&cursor={found.next_cursor}"
            if found.next_cursor
            else None
        )
        return page.render("history.html", "history", "History", rows=rows, older=older)


@router.get("/badges", response_class=HTMLResponse)
def badges_page(
    learner: Learner,
    actor: Reader,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    with read_only(db) as session:
        page = _Page(session, actor, learner, lang, accept_language)
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
    learner: Learner,
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
        page = _Page(session, actor, learner, lang, accept_language)
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
