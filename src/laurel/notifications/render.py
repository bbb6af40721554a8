"""Email templates: Jinja2 files translated with the ``email`` gettext domain.

Each email is three files in ``templates/``: ``<name>.subject.txt`` (one line), ``<name>.txt``
(the plain-text part) and ``<name>.html`` (the HTML part, which extends ``_layout.html``).
Sentences are wrapped in ``{% trans %}`` and translated from
``src/laurel/locale/<locale>/LC_MESSAGES/email.po``; amounts and dates go through
``format_money``/``format_date`` in the learner's own locale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from laurel import i18n
from laurel.kit.money import Money

TEMPLATE_DIR = Path(__file__).parent / "templates"
DOMAIN = "email"
DEFAULT_COLOR = "#1f4e79"
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    locale: str
    """The catalog used (``pt_BR``); the Content-Language header is its BCP 47 form."""

    @property
    def language(self) -> str:
        return self.locale.replace("_", "-")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
    )
    return i18n.enable_jinja(env)


def exists(name: str) -> bool:
    return all(
        (TEMPLATE_DIR / f"{name}{suffix}").is_file() for suffix in (".subject.txt", ".txt", ".html")
    )


def brand(organization_name: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    """The organization's brand for emails: name, colour and logo, with safe defaults."""
    given = settings or {}
    color = str(given.get("primary_color") or given.get("color") or DEFAULT_COLOR)
    if not (color.startswith("#") and len(color) in {4, 7} and color[1:].isalnum()):
        color = DEFAULT_COLOR
    logo = given.get("logo_url")
    return {
        "name": str(given.get("name") or organization_name),
        "primary_color": color,
        "logo_url": logo if isinstance(logo, str) and logo.startswith("https://") else None,
    }


def _values(context: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON-safe context of an outbox row into what templates use (Money, dates)."""
    values = dict(context)
    value = values.get("value")
    if isinstance(value, dict) and "minor" in value and "currency" in value:
        values["money"] = Money(int(value["minor"]), str(value["currency"]))
    for key, value in context.items():
        # Dates travel through the outbox as ISO text (``expires_on``: "2027-01-31").
        if key.endswith("_on") and isinstance(value, str) and len(value) == 10:
            try:
                values[key] = date.fromisoformat(value)
            except ValueError:
                continue
    for item in values.get("rewards") or []:
        amount = item.get("amount") or {}
        if "minor" in amount and "currency" in amount:
            item["money"] = Money(int(amount["minor"]), str(amount["currency"]))
    return values


def render(name: str, locale: str | None, context: dict[str, Any]) -> Rendered:
    """Subject, text and HTML of template ``name`` in the best language for ``locale``."""
    env = _environment()
    translator = i18n.translator(locale, DOMAIN)
    values = {
        **_values(context),
        **translator.jinja_globals(),
        "html_lang": translator.locale.replace("_", "-"),
    }
    subject = " ".join(env.get_template(f"{name}.subject.txt").render(values).split())
    values["subject"] = subject
    # Block tags leave blank lines behind in plain text: keep at most one between paragraphs.
    text = _BLANK_LINES.sub("\n\n", env.get_template(f"{name}.txt").render(values)).strip() + "\n"
    html = env.get_template(f"{name}.html").render(values)
    return Rendered(subject=subject, text=text, html=html, locale=translator.locale)
