"""Taxpayer identification numbers: validation with precise reasons, sealing, masking.

TINs are encrypted at rest with Fernet under a key derived from ``LAUREL_SECRET_KEY`` and a
context label of their own, so a key derived for connector secrets never opens a TIN. Only the
last four digits are stored in the clear, for masked display and matching.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography.fernet import Fernet, InvalidToken

from laurel.config import get_settings

_CONTEXT = b"laurel/tax-tins/v1\x00"

# EIN prefixes the IRS has never assigned (its list of valid campus prefixes leaves these out).
_EIN_UNUSED_PREFIXES = frozenset(
    {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89"}
    | {"96", "97"}
)
_SHAPES = {
    "SSN": (re.compile(r"^\d{3}-?\d{2}-?\d{4}$"), "123-45-6789"),
    "ITIN": (re.compile(r"^\d{3}-?\d{2}-?\d{4}$"), "9XX-7X-XXXX"),
    "EIN": (re.compile(r"^\d{2}-?\d{7}$"), "12-3456789"),
}


class TinType(StrEnum):
    ssn = "SSN"
    itin = "ITIN"
    ein = "EIN"


class TinError(ValueError):
    """The TIN is not valid. ``message`` is a gettext msgid (English) with ``%(name)s``
    placeholders filled from ``params``, so the form page can say why in the learner's
    language; ``str()`` is the English sentence."""

    def __init__(self, message: str, **params: str | int) -> None:
        self.message = message
        self.params = params
        super().__init__(message % params if params else message)


@dataclass(frozen=True, slots=True)
class Tin:
    digits: str
    type: TinType

    @property
    def last4(self) -> str:
        return self.digits[-4:]


def _itin_group_ok(group: int) -> bool:
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


def parse(value: str, tin_type: str) -> Tin:
    """Validate ``value`` as ``tin_type`` (SSN, ITIN or EIN): 9 digits, with the usual hyphens
    allowed, and the number ranges the IRS and SSA never issue refused."""
    try:
        kind = TinType(tin_type)
    except ValueError:
        raise TinError("The TIN type must be SSN, ITIN or EIN.") from None
    text = (value or "").strip()
    digits = re.sub(r"\D", "", text)
    if not text:
        raise TinError("Enter the %(kind)s.", kind=kind.value)
    if re.search(r"[^\d\- ]", text):
        raise TinError("An %(kind)s has only digits and hyphens.", kind=kind.value)
    if len(digits) != 9:
        raise TinError(
            "An %(kind)s has 9 digits; this one has %(count)s.", kind=kind.value, count=len(digits)
        )
    shape, example = _SHAPES[kind.value]
    if not shape.match(text.replace(" ", "")):
        raise TinError(
            "Write the %(kind)s as 9 digits or as %(example)s.", kind=kind.value, example=example
        )
    if len(set(digits)) == 1 or digits in {"123456789", "987654321"}:
        raise TinError("This is a placeholder number, not a real %(kind)s.", kind=kind.value)
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    if kind is TinType.ssn:
        if area in {0, 666} or area >= 900:
            raise TinError(
                "An SSN never starts with 000, 666 or 9 (numbers starting with 9 are ITINs)."
            )
        if group == 0:
            raise TinError("The middle two digits of an SSN are never 00.")
        if serial == 0:
            raise TinError("The last four digits of an SSN are never 0000.")
    elif kind is TinType.itin:
        if not digits.startswith("9"):
            raise TinError("An ITIN starts with 9.")
        if not _itin_group_ok(group):
            raise TinError(
                "The fourth and fifth digits of an ITIN are 50-65, 70-88, 90-92 or 94-99."
            )
    elif digits[:2] in _EIN_UNUSED_PREFIXES:
        raise TinError("No EIN starts with %(prefix)s.", prefix=digits[:2])
    return Tin(digits, kind)


def mask(tin_type: str | None, last4: str | None) -> str | None:
    """``***-**-1234`` for an SSN or ITIN, ``**-***1234`` for an EIN."""
    if not last4:
        return None
    return f"**-***{last4}" if tin_type == TinType.ein else f"***-**-{last4}"


def _fernet() -> Fernet:
    # SHA-256 of a context label and the setting: 32 bytes, distinct from every other use.
    digest = hashlib.sha256(_CONTEXT + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The plain value, or None when it was sealed under another ``LAUREL_SECRET_KEY``."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
