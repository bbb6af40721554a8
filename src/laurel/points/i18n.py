"""Translations of the points pages: gettext catalogs (``.po``) read with Babel.

Catalogs live in ``laurel/locale/<lang>/LC_MESSAGES/points.po`` (en, es, fr, de, pt_BR, ja). A
message missing from a catalog, or a language without one, falls back to English (the msgid).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "points"
LANGUAGES = ("en", "es", "fr", "de", "pt_BR", "ja")


@dataclass(frozen=True, slots=True)
class Catalog:
    language: str
    messages: dict[str, str]

    def gettext(self, message: str) -> str:
        return self.messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        # Our messages carry the count in a placeholder; plural forms are not needed yet.
        return self.gettext(singular if n == 1 else plural)


@cache
def catalog(language: str) -> Catalog:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return Catalog("en", {})
    with path.open("rb") as handle:
        po = read_po(handle, locale=language, domain=DOMAIN)
    messages = {
        str(m.id): str(m.string)
        for m in po
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }
    return Catalog(language, messages)


def negotiate(*wanted: str | None) -> str:
    """The first supported language among BCP 47 tags or Accept-Language values (es-MX → es,
    pt-BR → pt_BR); English when none is supported."""
    for value in wanted:
        if not value:
            continue
        for part in value.split(","):
            tag = part.split(";")[0].strip().replace("-", "_")
            if not tag or tag == "*":
                continue
            try:
                parsed = Locale.parse(tag)
            except (ValueError, UnknownLocaleError):
                continue
            full = f"{parsed.language}_{parsed.territory}" if parsed.territory else parsed.language
            if full in LANGUAGES:
                return full
            if parsed.language in LANGUAGES:
                return parsed.language
            if parsed.language == "pt":
                return "pt_BR"
    return "en"
