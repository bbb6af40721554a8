"""Renders the learner's link page: white-labelled, in their language, no Laurel branding.

Text comes from the ``links`` gettext domain through :mod:`laurel.i18n` (catalogs in
``src/laurel/locale/<locale>/LC_MESSAGES/links.po``, read directly, English as the fallback);
money and dates are formatted for the locale the page was chosen for (``es-MX``, not ``es``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from laurel import i18n
from laurel.kit.money import Money
from laurel.links.service import Brand, View

TEMPLATES = Path(__file__).parent / "templates"
DOMAIN = "links"

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
    return i18n.enable_jinja(
        Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )


def choose_locale(*preferences: str | None) -> str:
    """The first preference (BCP 47 tag) that has a catalog or is English; else ``en``.

    The tag itself is kept (``es-MX``), so money and dates follow the learner's region.
    """
    for tag in preferences:
        parsed = i18n.parse_locale(tag)
        if parsed is None or tag is None:
            continue
        if parsed.language == "en" or i18n.negotiate(tag, DOMAIN) != i18n.DEFAULT_LOCALE:
            return tag
    return i18n.DEFAULT_LOCALE


def accept_language(header: str | None) -> list[str]:
    """Languages from an Accept-Language header, most preferred first."""
    if not header:
        return []
    ranked = []
    for n, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*":
            ranked.append((-quality, n, tag))
    return [tag for _, _, tag in sorted(ranked)]


def translator(locale: str) -> i18n.Translator:
    return i18n.translator(locale, DOMAIN)


@dataclass
class Page:
    """What one answer shows; ``view`` is None for a link that does not exist."""

    locale: str
    """The learner's locale tag the page is shown in (see :func:`choose_locale`)."""
    view: View | None = None
    state: str = "unknown"
    form_token: str | None = None
    error: str | None = None


def render(page: Page) -> str:
    t = translator(page.locale)

    def day(value: date | datetime) -> str:
        return t.date(value.date() if isinstance(value, datetime) else value)

    brand = page.view.brand if page.view else Brand(name="")
    return (
        _environment()
        .get_template("link.html")
        .render(
            **t.jinja_globals(),
            lang=t.locale.replace("_", "-"),
            page=page,
            view=page.view,
            state=page.state,
            brand=brand,
            money=t.money,
            day=day,
            Money=Money,
        )
    )
