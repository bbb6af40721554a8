"""Translations read straight from .po files, locale negotiation and learner-facing formats."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jinja2 import DictLoader, Environment

from laurel import i18n
from laurel.kit.money import Money

FR_PO = r"""
msgid ""
msgstr ""
"Language: fr\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\n"
"Content-Type: text/plain; charset=UTF-8\n"

msgid "Your reward is ready"
msgstr "Votre récompense est prête"

msgid "Hello %(name)s"
msgstr "Bonjour %(name)s"

#, python-format
msgid "You earned %(amount)s"
msgstr "Vous avez gagné %(montant)s"

msgid "%(num)d point"
msgid_plural "%(num)d points"
msgstr[0] "%(num)d point"
msgstr[1] "%(num)d points"

#, fuzzy
msgid "Thanks"
msgstr "Merci (à revoir)"

msgid "Not translated yet"
msgstr ""

msgid "<b>%(name)s</b> finished"
msgstr "<b>%(name)s</b> a terminé"
"""

JA_PO = r"""
msgid ""
msgstr ""
"Language: ja\n"
"Plural-Forms: nplurals=1; plural=0;\n"
"Content-Type: text/plain; charset=UTF-8\n"

msgid "Your reward is ready"
msgstr "報酬の準備ができました"

msgid "%(num)d point"
msgid_plural "%(num)d points"
msgstr[0] "%(num)dポイント"
"""

PT_BR_PO = r"""
msgid ""
msgstr ""
"Language: pt_BR\n"
"Content-Type: text/plain; charset=UTF-8\n"

msgid "Your reward is ready"
msgstr "Sua recompensa está pronta"
"""

ES_PO = r"""
msgid ""
msgstr ""
"Language: es\n"
"Content-Type: text/plain; charset=UTF-8\n"

msgid "Your reward is ready"
msgstr "Tu recompensa está lista"
"""


def _write(root: Path, locale: str, domain: str, text: str) -> None:
    folder = root / locale / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{domain}.po").write_text(text, encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    _write(tmp_path, "fr", "test", FR_PO)
    _write(tmp_path, "ja", "test", JA_PO)
    _write(tmp_path, "pt_BR", "test", PT_BR_PO)
    _write(tmp_path, "es", "test", ES_PO)
    # Not a .po file at all: must read as English, not as an error.
    _write(tmp_path, "de", "test", 'msgid "unterminated\nmsgstr [[[\n')
    return tmp_path


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("pt-BR", "pt_BR"),
        ("pt_BR", "pt_BR"),
        ("pt-br", "pt_BR"),
        ("pt-PT", "pt_BR"),  # same language, other region beats English
        ("pt", "pt_BR"),
        ("es-MX", "es"),
        ("ja", "ja"),
        ("ja-JP", "ja"),
        ("fr_CA.UTF-8", "fr"),
        ("en-US", "en"),
        ("it", "en"),
        ("xx-YY", "en"),
        ("not a locale", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_negotiate_picks_best_catalog(root: Path, requested: str | None, expected: str) -> None:
    assert i18n.negotiate(requested, "test", root) == expected


def test_available_locales_lists_catalog_folders(root: Path) -> None:
    assert i18n.available_locales("test", root) == ("de", "es", "fr", "ja", "pt_BR")
    assert i18n.available_locales("other", root) == ()


def test_gettext_translates_and_fills_values(root: Path) -> None:
    t = i18n.translator("fr-FR", "test", root=root)
    assert (t.locale, t.format_locale) == ("fr", "fr_FR")
    assert t.gettext("Your reward is ready") == "Votre récompense est prête"
    assert t.gettext("Hello %(name)s", name="Zoé") == "Bonjour Zoé"


def test_missing_fuzzy_and_empty_translations_fall_back_to_english(root: Path) -> None:
    t = i18n.translator("fr", "test", root=root)
    assert t.gettext("Never in the catalog") == "Never in the catalog"
    assert t.gettext("Thanks") == "Thanks"
    assert t.gettext("Not translated yet") == "Not translated yet"


def test_broken_placeholder_falls_back_to_english(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = i18n.translator("fr", "test", root=root)
    with caplog.at_level(logging.WARNING, logger="laurel.i18n"):
        assert t.gettext("You earned %(amount)s", amount="25,00 €") == "You earned 25,00 €"
    assert "does not fit" in caplog.text


def test_unreadable_catalog_reads_as_english(root: Path) -> None:
    t = i18n.translator("de", "test", root=root)
    assert t.locale == "de"
    assert t.gettext("Your reward is ready") == "Your reward is ready"
    assert t.money(Money(2500, "EUR")) == "25,00\xa0€"


def test_ngettext_uses_the_languages_plural_rule(root: Path) -> None:
    fr = i18n.translator("fr", "test", root=root)
    assert fr.ngettext("%(num)d point", "%(num)d points", 1) == "1 point"
    assert fr.ngettext("%(num)d point", "%(num)d points", 0) == "0 point"  # French: 0 is singular
    assert fr.ngettext("%(num)d point", "%(num)d points", 2) == "2 points"
    ja = i18n.translator("ja", "test", root=root)
    assert ja.ngettext("%(num)d point", "%(num)d points", 5) == "5ポイント"
    en = i18n.translator("en", "test", root=root)
    assert en.ngettext("%(num)d point", "%(num)d points", 0) == "0 points"


def test_english_needs_no_catalog(root: Path) -> None:
    t = i18n.translator(None, "test", root=root)
    assert t.locale == "en"
    assert t.gettext("Hello %(name)s", name="Ann") == "Hello Ann"


@pytest.mark.parametrize(
    ("locale", "amount", "expected"),
    [
        ("en", Money(2500, "USD"), "$25.00"),
        ("en-US", Money(123456789, "USD"), "$1,234,567.89"),
        ("fr", Money(2500, "EUR"), "25,00\xa0€"),
        ("de", Money(123450, "EUR"), "1.234,50\xa0€"),
        ("pt-BR", Money(123456, "BRL"), "R$\xa01.234,56"),
        ("ja", Money(3000, "JPY"), "￥3,000"),
        ("ja-JP", Money(1500000, "JPY"), "￥1,500,000"),
        ("es-MX", Money(19999, "MXN"), "$199.99"),
        ("en", Money(1234, "KWD"), "KWD1.234"),  # ISO's 3 decimals, whatever CLDR says
        ("en", Money(1500, "PTS"), "1,500 PTS"),
        ("de", Money(1500, "PTS"), "1.500 PTS"),
        ("nonsense", Money(2500, "USD"), "$25.00"),
        (None, Money(2500, "GBP"), "£25.00"),
    ],
)
def test_format_money(locale: str | None, amount: Money, expected: str) -> None:
    assert i18n.format_money(amount, locale) == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "November 26, 2026"),
        ("en-GB", "26 November 2026"),
        ("es", "26 de noviembre de 2026"),
        ("fr", "26 novembre 2026"),
        ("de", "26. November 2026"),
        ("pt-BR", "26 de novembro de 2026"),
        ("ja", "2026年11月26日"),
        ("zz", "November 26, 2026"),
    ],
)
def test_format_date(locale: str, expected: str) -> None:
    assert i18n.format_date(date(2026, 11, 26), locale) == expected


def test_format_date_with_a_broken_pattern_falls_back_to_english() -> None:
    assert i18n.format_date(date(2026, 11, 26), "fr", format="'unterminated") == (
        "November 26, 2026"
    )


def test_format_datetime_in_the_learners_zone() -> None:
    moment = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    assert i18n.format_datetime(moment, "ja", "short", tz="Asia/Tokyo") == "2026/11/27 8:30"
    assert i18n.format_number(1234567, "de") == "1.234.567"


def test_jinja_templates_use_the_learners_catalog_and_escape_values(root: Path) -> None:
    env = i18n.enable_jinja(
        Environment(
            loader=DictLoader(
                {
                    "mail.html": (
                        "{% trans %}Your reward is ready{% endtrans %}|"
                        "{% trans name=who %}<b>{{ name }}</b> finished{% endtrans %}|"
                        "{% trans num=n %}{{ num }} point{% pluralize %}{{ num }} points"
                        "{% endtrans %}|{{ format_money(amount) }}|"
                        "{{ _('Hello %(name)s', name=who) }}"
                    ),
                    "mail.txt": "{% trans amount=a %}You earned {{ amount }}{% endtrans %}",
                }
            ),
            autoescape=lambda name: bool(name and name.endswith(".html")),
        )
    )
    fr = i18n.translator("fr", "test", root=root)
    html = env.get_template("mail.html").render(
        **fr.jinja_globals(), who="<Zoé>", n=3, amount=Money(2500, "EUR")
    )
    assert html == (
        "Votre récompense est prête|<b>&lt;Zoé&gt;</b> a terminé|3 points|25,00\xa0€|"
        "Bonjour &lt;Zoé&gt;"
    )
    # The French text has the wrong placeholder name: the English sentence is used instead.
    text = env.get_template("mail.txt").render(**fr.jinja_globals(), a="25,00 €")
    assert text == "You earned 25,00 €"
