"""Comprehensively sanctioned jurisdictions, by ISO 3166 code.

A listed code is either a country (ISO 3166-1 alpha-2, ``IR``) or a subdivision (ISO 3166-2,
``UA-43`` for Crimea). A person's code matches a listed country when it is that country or one
of its subdivisions (``IR`` or ``IR-07``), and a listed subdivision only when it is exactly
that subdivision: a learner known only as ``UA`` is not held, because an alpha-2 code cannot
say whether they live in an occupied region (see docs/screening.md).
"""

from __future__ import annotations

import re

from laurel.kit.errors import field_error

CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


def parse(setting: str) -> frozenset[str]:
    """Codes from a comma-separated setting; a malformed one is refused by name."""
    codes = {c.strip().upper() for c in setting.split(",") if c.strip()}
    bad = sorted(c for c in codes if not CODE.match(c))
    if bad:
        raise field_error("screening_countries", f"not ISO 3166 codes: {', '.join(bad)}")
    return frozenset(codes)


def normalise(country: str | None) -> str | None:
    """Upper-case code, or None for blank; a malformed code is refused by name."""
    if country is None or not country.strip():
        return None
    code = country.strip().upper()
    if not CODE.match(code):
        raise field_error(
            "country", "must be an ISO 3166-1 alpha-2 code (IR) or a 3166-2 code (UA-43)"
        )
    return code


def sanctioned(country: str | None, listed: frozenset[str]) -> str | None:
    """The listed code that ``country`` falls under, or None."""
    if country is None:
        return None
    if country in listed:
        return country
    nation = country.split("-", 1)[0]
    return nation if nation in listed else None
