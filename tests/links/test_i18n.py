"""The link page's catalogs: every page string translated in every language, placeholders
kept, and English whenever a translation is missing or broken."""

from __future__ import annotations

import re

import pytest

from laurel.links import i18n
from laurel.links.pages import TEMPLATES

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


@pytest.mark.parametrize("language", [lang for lang in i18n.LANGUAGES if lang != "en"])
def test_every_string_is_translated_with_its_placeholders(language: str) -> None:
    catalog = i18n._messages(language)
    for message in [*PAGE_STRINGS, *ERRORS, *KINDS]:
        assert message in catalog, (language, message)
        assert sorted(PLACEHOLDER.findall(catalog[message])) == sorted(
            PLACEHOLDER.findall(message)
        ), (language, message)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (("es-MX",), "es"),
        (("pt-BR",), "pt_BR"),
        (("pt-PT",), "pt_BR"),
        (("ja-JP",), "ja"),
        (("zz-ZZ", "de-AT"), "de"),
        ((None, "nl-NL"), "en"),
        (("not a tag!", ""), "en"),
    ],
)
def test_language_negotiation(tags: tuple[str | None, ...], expected: str) -> None:
    assert i18n.negotiate(*tags) == expected


def test_accept_language_is_ordered_by_quality() -> None:
    assert i18n.accept_language("fr;q=0.5, de-CH, en;q=0.8, *;q=0.1") == ["de-CH", "en", "fr"]


def test_missing_and_broken_translations_fall_back_to_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert i18n.Translator("nl").gettext("Your code") == "Your code"
    spanish = i18n.Translator("es")
    monkeypatch.setitem(spanish._messages, "Value: %(amount)s", "Valor: %(importe)s")
    assert spanish.gettext("Value: %(amount)s", amount="5 €") == "Value: 5 €"
    assert spanish.gettext("Your code") == "Tu código"
