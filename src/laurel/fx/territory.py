"""Which currency a learner is paid in: the legal tender of their country.

Babel's CLDR data gives each territory's currencies in use on a day; where CLDR lists more than
one (Panama: PAB and USD, Bhutan: INR and BTN), :data:`PREFERRED` names the one rewards are paid
in. An operator overrides either with ``LAUREL_FX_COUNTRY_CURRENCIES`` (JSON, ``{"XK": "EUR"}``).
A country with no known currency answers None: the reward is paid in the program's currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache

from babel.numbers import get_territory_currencies

from laurel.kit import currency

PREFERRED: dict[str, str] = {
    "PA": "USD",  # the balboa circulates as coins only
    "BT": "BTN",
    "PS": "ILS",
    "ZW": "USD",  # gift cards and prepaid cards there are sold in US dollars
    "CU": "CUP",
    "LS": "LSL",
    "NA": "NAD",
    "SZ": "SZL",
}
"""Where CLDR lists several tenders, the one a reward is paid in."""


@lru_cache(maxsize=512)
def _cldr(country: str, on: date) -> str | None:
    try:
        found = get_territory_currencies(country, on, tender=True)
    except (ValueError, LookupError):
        return None
    known = [code for code in found if currency.is_known(code)]
    return known[0] if known else None


def currency_for(
    country: str | None, on: date, overrides: Mapping[str, str] | None = None
) -> str | None:
    """The ISO 4217 currency of ``country`` (ISO 3166-1 alpha-2) on ``on``, or None."""
    if not country:
        return None
    code = country.strip().upper()
    if overrides and code in overrides:
        return overrides[code].upper()
    if code in PREFERRED:
        return PREFERRED[code]
    return _cldr(code, on)
