"""Which privacy law governs a learner, and what it requires of a request."""

from __future__ import annotations

from datetime import timedelta

from laurel.privacy.models import Jurisdiction

# EU member states, the other EEA states (Iceland, Liechtenstein, Norway) and the United
# Kingdom, whose UK GDPR keeps the same rights and deadlines.
EU_EEA_UK = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        "IS", "LI", "NO",
        "GB",
    }
)  # fmt: skip

ANSWER_PERIOD = {
    Jurisdiction.gdpr: timedelta(days=30),  # Art. 12(3): one month, read conservatively
    Jurisdiction.ccpa: timedelta(days=45),  # Cal. Civ. Code 1798.130(a)(2)
    Jurisdiction.pipeda: timedelta(days=30),  # PIPEDA s. 8(3)
    Jurisdiction.other: timedelta(days=30),
}


def jurisdiction(country: str | None, region: str | None = None) -> Jurisdiction:
    """GDPR for EU/EEA and UK residents, CCPA for California, PIPEDA for Canada.

    ``region`` is the ISO 3166-2 subdivision without the country (``CA``), or with it
    (``US-CA``).
    """
    code = (country or "").upper()
    sub = (region or "").upper().removeprefix(f"{code}-")
    if code in EU_EEA_UK:
        return Jurisdiction.gdpr
    if code == "US" and sub == "CA":
        return Jurisdiction.ccpa
    if code == "CA":
        return Jurisdiction.pipeda
    return Jurisdiction.other
