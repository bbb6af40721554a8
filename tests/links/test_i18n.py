"""The link page's catalogs: every page string translated in every language with its
placeholders, the language chosen for a visit, and English whenever a translation is missing."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from laurel import i18n
from laurel.links import pages
from laurel.links.pages import TEMPLATES

LANGUAGES = ("es", "fr", "de", "pt_BR", "ja")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
PAGE_STRINGS = sorted(
    set(re.findall(r'_\("([^"]+)"', (TEMPLATES / "link.html").read_text(encoding="utf-8")))
)
ERRORS = [
    "choose a reward",
    "that reward is not available to you",
    "this form is out of date; open the link again",
]
KINDS = ["gift card", "prepaid card", "merchandise", "charity"]


def test_the_shipped_catalogs_are_the_six_languages() -> None:
    assert set(i18n.available_locales("links")) == {"en", *LANGUAGES}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_translated_with_its_placeholders(language: str) -> None:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / "links.po"
    with path.open("rb") as handle:
        catalog = {m.id: m.string for m in read_po(handle) if m.id and not m.fuzzy}
    for message in [*PAGE_STRINGS, *ERRORS, *KINDS]:
        assert catalog.get(message), (language, message)
        assert sorted(PLACEHOLDER.findall(str(catalog[message]))) == sorted(
            PLACEHOLDER.findall(message)
        ), (language, message)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (("es-MX",), "es-MX"),
        (("pt-BR",), "pt-BR"),
        (("pt-PT",), "pt-PT"),  # Brazilian text, Portuguese formats
        (("ja-JP",), "ja-JP"),
        (("nl-NL", "de-AT"), "de-AT"),
        ((None, "nl-NL"), "en"),
        (("not a tag!", ""), "en"),
        (("en-GB", "es"), "en-GB"),
    ],
)
def test_the_first_language_with_a_catalog_is_chosen(
    tags: tuple[str | None, ...], expected: str
) -> None:
    assert pages.choose_locale(*tags) == expected


def test_accept_language_is_ordered_by_quality() -> None:
    assert pages.accept_language("fr;q=0.5, de-CH, en;q=0.8, *;q=0.1") == ["de-CH", "en", "fr"]


def test_text_follows_the_language_and_money_the_region() -> None:
    from laurel.kit.money import Money

    mexico = pages.translator("es-MX")
    assert mexico.gettext("Your code") == "Tu código"
    assert mexico.money(Money(2500, "USD")).endswith("25.00")  # Mexican number format
    assert pages.translator("es-ES").money(Money(2500, "USD")) == "25,00\xa0US$"
    assert pages.translator("nl").gettext("Your code") == "Your code"
