"""Renders the learner's link page: white-labelled, in their language, no Laurel branding."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, select_autoescape

from laurel.kit.money import Money
from laurel.links.i18n import Translator
from laurel.links.service import Brand, View

TEMPLATES = Path(__file__).parent / "templates"

HEADERS = {
    # The token is in the URL: never send it to a logo's host, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; img-src https: http: data:; "
    "style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class Page:
    """What one answer shows; ``view`` is None for a link that does not exist."""

    language: str
    view: View | None = None
    state: str = "unknown"
    form_token: str | None = None
    error: str | None = None
    just_redeemed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _format_locale(page: Page) -> str:
    """Money and dates in the learner's own locale (es_MX, not just es) when it speaks the
    page's language."""
    tag = page.view.learner.locale if page.view and page.view.learner else None
    if tag:
        try:
            own = Locale.parse(tag.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            return page.language
        if own.language == Locale.parse(page.language).language:
            return str(own)
    return page.language


def render(page: Page) -> str:
    t = Translator(page.language)
    lang = _format_locale(page)

    def money(value: Money) -> str:
        return format_currency(value.as_decimal(), value.currency, locale=lang)

    def day(value: date | datetime) -> str:
        return format_date(
            value.date() if isinstance(value, datetime) else value, format="long", locale=lang
        )

    brand = page.view.brand if page.view else Brand(name="")
    return (
        _environment()
        .get_template("link.html")
        .render(
            _=t.gettext,
            lang=page.language.replace("_", "-"),
            page=page,
            view=page.view,
            state=page.state,
            brand=brand,
            money=money,
            day=day,
            Money=Money,
        )
    )
