"""Page strings in the learner's language, read straight from gettext ``.po`` catalogs.

Babel reads ``locale/<lang>/LC_MESSAGES/links.po`` (no compile step); a message missing from a
catalog, or a language with no catalog, falls back to the English source text.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
LANGUAGES = ("en", "es", "fr", "de", "pt_BR", "ja")
DOMAIN = "links"


@cache
def _messages(language: str) -> dict[str, str]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string and not m.fuzzy
    }


def negotiate(*preferences: str | None) -> str:
    """The first supported language among BCP 47 tags (``es-MX``, ``pt-BR``, ``ja``), else en."""
    for tag in preferences:
        if not tag:
            continue
        try:
            locale = Locale.parse(tag.replace("-", "_").split(".")[0])
        except (ValueError, UnknownLocaleError):
            continue
        full = f"{locale.language}_{locale.territory}" if locale.territory else locale.language
        if full in LANGUAGES:
            return full
        if locale.language == "pt":
            return "pt_BR"
        if locale.language in LANGUAGES:
            return locale.language
    return "en"


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


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language
        self._messages = _messages(language)

    def gettext(self, message: str, **values: object) -> str:
        text = self._messages.get(message, message)
        if not values:
            return text
        try:
            return text % values
        except (KeyError, ValueError, TypeError):
            # A broken translation must never break the page: use the English text.
            return message % values
