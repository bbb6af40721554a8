"""What every export needs: the year's totals joined with learners and their forms."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from anyascii import anyascii

from laurel.tax import tins
from laurel.tax.aggregation import YearTotal
from laurel.tax.forms import display_name
from laurel.tax.models import TaxProfile


@dataclass(frozen=True, slots=True)
class ExportFile:
    name: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Payee:
    """One learner's line in a year, with what is known about them."""

    total: YearTotal
    external_id: str
    learner_name: str
    email: str | None
    classification: str
    profile: TaxProfile | None
    tin: str | None
    """Unsealed TIN digits (None when no TIN on file)."""

    @property
    def learner_id(self) -> uuid.UUID:
        return self.total.learner_id

    @property
    def account_number(self) -> str:
        """Payer's account number for the payee (FIRE B 21-40, IRIS Form Account Number):
        unique per payee and never the TIN."""
        return self.total.learner_id.hex[:20].upper()

    @property
    def name(self) -> str:
        return display_name(self.profile) if self.profile else self.learner_name

    @property
    def masked_tin(self) -> str:
        if self.profile is None:
            return ""
        return tins.mask(self.profile.tin_type, self.profile.tin_last4) or ""


def dollars(cents: int) -> str:
    """``2500.00`` from 250000: decimal dollars, two places, no float on the way."""
    return f"{Decimal(cents).scaleb(-2):.2f}"


_NAME_CHARS = re.compile(r"[^A-Z0-9 &\-]")


def irs_text(value: str | None) -> str:
    """Upper-case ASCII with only letters, digits, spaces, ``-`` and ``&`` (Pub 1220 name
    lines): accents transliterated, other punctuation dropped, spaces collapsed."""
    text = anyascii(value or "").upper()
    text = _NAME_CHARS.sub("", text.replace(".", "").replace("'", ""))
    return " ".join(text.split())


def name_control(profile: TaxProfile | None) -> str:
    """First four letters of an individual's surname (blank for businesses and unknowns)."""
    if profile is None or profile.name_type != "I" or not profile.last_name:
        return ""
    letters = re.sub(r"[^A-Z]", "", anyascii(profile.last_name).upper())
    return letters[:4]
