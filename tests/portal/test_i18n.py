"""Every string of the learner pages and of the learner and reset emails is translated in every
shipped language, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from laurel import i18n

LANGUAGES = ("es", "fr", "de", "pt_BR", "ja")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
SOURCE = Path(i18n.LOCALE_DIR).parent
JINJA = {"extensions": "jinja2.ext.i18n"}
EMAILS = ("learner_sign_in", "points_expiring", "password_reset")
# Strings the page code passes through gettext itself (errors, titles, navigation).
CODE_STRINGS = [
    "Wallet",
    "History",
    "Badges",
    "Leaderboard",
    "Marketplace",
    "Your redemption",
    "Sign in",
    "The form expired: please try again.",
    "Too many sign-in requests from here: please wait a few minutes.",
    "This sign-in link is unknown, used or expired.",
    "You do not have enough points for this item.",
    "The marketplace is not open yet.",
    "This item is no longer offered.",
    "This item cannot be redeemed right now.",
]


def _messages(folder: Path, names: tuple[str, ...] | None = None) -> set[str]:
    found = set()
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(folder),
        method_map=[
            ("**.html", "jinja2.ext.babel_extract"),
            ("**.txt", "jinja2.ext.babel_extract"),
        ],
        options_map={"**.html": JINJA, "**.txt": JINJA},
    ):
        if names is not None and not filename.startswith(names):
            continue
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str, domain: str) -> dict[str, str]:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id and not m.fuzzy}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("domain", "messages"),
    [
        ("points", _messages(SOURCE / "points" / "templates") | set(CODE_STRINGS)),
        ("email", _messages(SOURCE / "notifications" / "templates", EMAILS)),
    ],
    ids=["points", "email"],
)
def test_every_string_is_translated(language: str, domain: str, messages: set[str]) -> None:
    catalog = _catalog(language, domain)
    assert messages
    for message in sorted(messages):
        assert catalog.get(message), (language, message)
        assert sorted(PLACEHOLDER.findall(catalog[message])) == sorted(
            PLACEHOLDER.findall(message)
        ), (language, message)
