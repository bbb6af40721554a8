"""The tax form page's strings in the learner's language: gettext catalogs read with Babel.

Catalogs are ``src/laurel/locale/<lang>/LC_MESSAGES/tax.po`` (en, es, fr, de, pt_BR, ja), read
once per process. A language without a catalog, or a string without a translation, falls back
to English (the msgid). The notify domain's ``laurel.i18n`` will take this over at merge.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "tax"
LANGUAGES = ("en", "es", "fr", "de", "pt_BR", "ja")


def negotiate(*tags: str | None) -> str:
    """The first of ``tags`` (BCP 47 or POSIX, e.g. ``es-MX``, ``pt_BR``) we have a catalog
    for, matching the whole tag first, then the language alone; else English."""
    by_language = {lang.split("_")[0]: lang for lang in reversed(LANGUAGES)}
    for tag in tags:
        if not tag:
            continue
        parts = tag.replace("-", "_").split("_")
        full = "_".join([parts[0].lower(), *(p.upper() for p in parts[1:2])])
        if full in LANGUAGES:
            return full
        if parts[0].lower() in by_language:
            return by_language[parts[0].lower()]
    return "en"


@cache
def catalog(language: str) -> dict[str, str]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        po = read_po(handle, locale=language)
    return {
        str(m.id): str(m.string)
        for m in po
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


class Translator:
    """``_("msgid", name=value)``: the translation with ``%(name)s`` filled in."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._strings = catalog(language)

    def __call__(self, msgid: str, **params: Any) -> str:
        text = self._strings.get(msgid, msgid)
        return text % params if params else text

    @property
    def html_lang(self) -> str:
        return self.language.replace("_", "-")
