"""Translations and locale-aware formatting for everything a learner reads.

Catalogs are gettext ``.po`` files at ``src/laurel/locale/<locale>/LC_MESSAGES/<domain>.po``
(one domain per feature: ``email``, ``links``, ...). They are read and compiled in memory by
Babel the first time a process asks for them, so editing a ``.po`` file needs no build step;
each (locale, domain) is parsed once per process.

The whole API::

    t = translator("pt-BR", "email")        # best catalog for the learner, else English
    t.gettext("Your reward is ready")       # plain text
    t.gettext("Hello %(name)s", name=n)     # %-placeholders, like Jinja's newstyle gettext
    t.ngettext("%(num)d point", "%(num)d points", n)   # ``num`` is set to ``n``
    format_money(Money(2500, "EUR"), "fr")  # '25,00 €'
    format_date(date(2026, 11, 26), "ja")   # '2026年11月26日'
    negotiate("es-MX", "email")             # 'es' (the catalog picked for that learner)

Templates: ``enable_jinja(env)`` once on a Jinja2 environment, then
``template.render(**t.jinja_globals(), ...)`` per render; ``{% trans %}`` blocks and ``_()``
then use the learner's catalog, with the values escaped when the template autoescapes.

Nothing here raises for a learner's data: an unknown locale tag means English, a message
missing from a catalog is shown in English (the msgid), and a translation whose placeholders
do not fit the values (a translator's typo) is replaced by the English text for that message.
Extract messages with ``pybabel extract -F babel.cfg`` (Jinja2 ships the extractor).
"""

from __future__ import annotations

import gettext as _gettext
import logging
from collections.abc import Callable, Mapping
from copy import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from laurel.kit import currency
from laurel.kit.money import Money

log = logging.getLogger("laurel.i18n")

DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
"""Where the shipped catalogs live; ``root=`` arguments override it (tests)."""


@lru_cache(maxsize=1024)
def parse_locale(tag: str | None) -> Locale | None:
    """A Babel locale for a tag such as ``pt-BR``, ``pt_BR``, ``ja`` or ``zh-Hant-TW``, or None.

    None for an empty, malformed or unknown tag: callers then use English.
    """
    if not tag or not isinstance(tag, str):
        return None
    cleaned = tag.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_")
    if not cleaned:
        return None
    try:
        return Locale.parse(cleaned)
    except (ValueError, TypeError, UnknownLocaleError):
        # A territory Babel does not know ("es_XX") still tells us the language.
        try:
            return Locale.parse(cleaned.split("_", 1)[0])
        except (ValueError, TypeError, UnknownLocaleError):
            return None


@cache
def available_locales(domain: str, root: Path = LOCALE_DIR) -> tuple[str, ...]:
    """Locales that have a catalog for ``domain`` (directory names, e.g. ``pt_BR``), sorted."""
    if not root.is_dir():
        return ()
    found = [
        entry.name for entry in root.iterdir() if (entry / "LC_MESSAGES" / f"{domain}.po").is_file()
    ]
    return tuple(sorted(found))


def negotiate(requested: str | None, domain: str, root: Path = LOCALE_DIR) -> str:
    """The best catalog locale for a learner's tag, else ``en``.

    Order: the exact locale (``pt_BR``), then its language alone (``es`` for ``es-MX``), then
    another region of the same language (``pt_BR`` for ``pt-PT``), then English.
    """
    wanted = parse_locale(requested)
    if wanted is None:
        return DEFAULT_LOCALE
    available = available_locales(domain, root)
    by_lower = {name.lower(): name for name in available}
    candidates = []
    if wanted.script and wanted.territory:
        candidates.append(f"{wanted.language}_{wanted.script}_{wanted.territory}")
    if wanted.script:
        candidates.append(f"{wanted.language}_{wanted.script}")
    if wanted.territory:
        candidates.append(f"{wanted.language}_{wanted.territory}")
    candidates.append(wanted.language)
    for candidate in candidates:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    for name in available:
        if name.split("_", 1)[0].lower() == wanted.language.lower():
            return name
    return DEFAULT_LOCALE


@cache
def _catalog(locale: str, domain: str, root: Path) -> _gettext.NullTranslations:
    """The compiled catalog, or an empty one (English) when missing or unreadable."""
    path = root / locale / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return _gettext.NullTranslations()
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=domain)
        compiled = BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        return _gettext.GNUTranslations(compiled)
    except Exception:
        # A corrupt catalog must not stop emails or pages: show English and say so once.
        log.exception("i18n: catalog %s is unreadable; falling back to English", path)
        return _gettext.NullTranslations()


_FORMAT_ERRORS = (KeyError, ValueError, TypeError, IndexError)


def _interpolate(translated: str, english: str, variables: Mapping[str, Any]) -> str:
    try:
        return translated % variables
    except _FORMAT_ERRORS:
        log.warning("i18n: translation of %r does not fit its values; using English", english)
        return english % variables


@dataclass(frozen=True, slots=True)
class Translator:
    """One learner's catalog.

    ``locale`` is the catalog used for text (``es`` for an ``es-MX`` learner); ``format_locale``
    is the learner's own locale, used for money and dates (Mexican pesos and date order).
    """

    locale: str
    format_locale: str
    domain: str
    _translations: _gettext.NullTranslations

    def gettext(self, message: str, /, **variables: Any) -> str:
        """The translation of ``message``, its ``%(name)s`` placeholders filled from values."""
        translated = self._translations.gettext(message)
        if not variables:
            return translated
        return _interpolate(translated, message, variables)

    def ngettext(self, singular: str, plural: str, n: int, /, **variables: Any) -> str:
        """The plural form for ``n`` in the learner's language; ``%(num)d`` is ``n``."""
        translated = self._translations.ngettext(singular, plural, n)
        english = singular if n == 1 else plural
        variables.setdefault("num", n)
        return _interpolate(translated, english, variables)

    def number(self, value: int) -> str:
        """A whole number the locale's way (``1 500`` in French, ``1,500`` in English)."""
        return str(babel_numbers.format_decimal(value, locale=self.format_locale))

    def money(self, amount: Money) -> str:
        return format_money(amount, self.format_locale)

    def date(self, value: date, format: str = "long") -> str:
        return format_date(value, self.format_locale, format)

    def jinja_globals(self) -> dict[str, Callable[..., Any]]:
        """Pass to ``template.render(**...)`` so ``{% trans %}`` and ``_()`` use this catalog.

        Like Jinja's newstyle gettext, the translation is trusted markup and the values are
        escaped when the template autoescapes; every message is %-formatted (``%%`` is ``%``).
        """

        @pass_context
        def gettext(context: Context, message: str, /, **variables: Any) -> str:
            translated = self._translations.gettext(message)
            return _render(context, translated, message, variables)

        @pass_context
        def ngettext(
            context: Context, singular: str, plural: str, n: int, /, **variables: Any
        ) -> str:
            translated = self._translations.ngettext(singular, plural, n)
            variables.setdefault("num", n)
            return _render(context, translated, singular if n == 1 else plural, variables)

        return {
            "gettext": gettext,
            "ngettext": ngettext,
            "_": gettext,
            "format_money": self.money,
            "format_date": self.date,
            "format_number": self.number,
        }


def _render(context: Context, translated: str, english: str, variables: dict[str, Any]) -> str:
    if context.eval_ctx.autoescape:
        try:
            # Catalogs ship with the code and are reviewed like it; values are escaped by %.
            return Markup(translated) % variables  # noqa: S704
        except _FORMAT_ERRORS:
            log.warning("i18n: translation of %r does not fit its values; using English", english)
            return Markup(english) % variables  # noqa: S704
    return _interpolate(translated, english, variables)


def translator(locale: str | None, domain: str, *, root: Path = LOCALE_DIR) -> Translator:
    """The translator for a learner's locale tag (any of ``pt-BR``, ``pt_BR``, ``ja``, None)."""
    chosen = negotiate(locale, domain, root)
    parsed = parse_locale(locale)
    format_locale = str(parsed) if parsed is not None else DEFAULT_LOCALE
    translations = (
        _gettext.NullTranslations() if chosen == DEFAULT_LOCALE else _catalog(chosen, domain, root)
    )
    return Translator(chosen, format_locale, domain, translations)


def enable_jinja(env: Environment) -> Environment:
    """Add the i18n extension in newstyle mode; translators are then passed per render."""
    env.add_extension("jinja2.ext.i18n")
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


def _babel_locale(locale: str | None) -> Locale:
    return parse_locale(locale) or Locale.parse(DEFAULT_LOCALE)


def format_money(amount: Money, locale: str | None) -> str:
    """An amount as the learner reads it: ``$25.00``, ``25,00\xa0€``, ``￥3,000``, ``R$\xa025,00``.

    Always shows the currency's ISO minor unit (JPY 0, KWD 3 decimals), whatever CLDR rounds
    to, so the learner sees exactly what is paid. Points (``PTS``) are a grouped number
    followed by ``PTS``.
    """
    value = amount.as_decimal()
    try:
        loc = _babel_locale(locale)
        if amount.currency == currency.POINTS:
            return f"{babel_numbers.format_decimal(value, locale=loc)} {currency.POINTS}"
        pattern = copy(loc.currency_formats["standard"])
        places = currency.exponent(amount.currency)
        pattern.frac_prec = (places, places)
        return str(pattern.apply(value, loc, currency=amount.currency, currency_digits=False))
    except Exception:
        log.exception("i18n: cannot format %s for %r; using English", amount, locale)
        return str(amount)


def format_number(value: int, locale: str | None) -> str:
    """A whole number with the locale's grouping (``1,000``, ``1.000``, ``1 000``)."""
    try:
        return babel_numbers.format_decimal(value, locale=_babel_locale(locale))
    except Exception:
        return f"{value:,}"


def format_date(value: date, locale: str | None, format: str = "long") -> str:
    """A date as the learner reads it (``November 26, 2026``, ``26 de noviembre de 2026``).

    ``format`` is a Babel width (``short``, ``medium``, ``long``, ``full``) or a CLDR pattern.
    """
    try:
        shown = babel_dates.format_date(value, format=format, locale=_babel_locale(locale))
        if not shown.strip():
            raise ValueError(f"date pattern {format!r} shows nothing")
        return shown
    except Exception:
        log.exception("i18n: cannot format %s for %r; using English", value, locale)
        return babel_dates.format_date(value, format="long", locale=DEFAULT_LOCALE)


def format_datetime(
    value: datetime,
    locale: str | None,
    format: str = "long",
    tz: tzinfo | str | None = None,
) -> str:
    """A moment in the learner's time zone (``tz``, an IANA name or tzinfo; UTC when None)."""
    try:
        zone = babel_dates.get_timezone(tz) if isinstance(tz, str) else (tz or UTC)
        return babel_dates.format_datetime(
            value, format=format, tzinfo=zone, locale=_babel_locale(locale)
        )
    except Exception:
        log.exception("i18n: cannot format %s for %r; using English", value, locale)
        return babel_dates.format_datetime(value, format="long", tzinfo=UTC, locale="en")
