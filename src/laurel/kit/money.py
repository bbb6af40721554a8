"""Money as an integer number of minor units plus an ISO 4217 code.

Amounts cross the API boundary as decimal strings (``"25.00"``), never as JSON numbers, so no
float ever touches a value that is paid out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from laurel.kit import currency

# At most 14 integer digits: with up to 4 decimals the minor units stay inside a BIGINT.
_AMOUNT = re.compile(r"^(0|[1-9]\d{0,13})(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    """Amount in the currency's minor unit (cents for USD, yen for JPY)."""
    currency: str

    def __post_init__(self) -> None:
        currency.exponent(self.currency)  # validates the code
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError("Money.minor must be an int")

    @classmethod
    def parse(cls, amount: str, code: str) -> Money:
        """Parse a decimal string in major units; refuses more decimals than the currency has."""
        if not isinstance(amount, str):
            raise ValueError('amount must be a decimal string such as "25.00", not a number')
        if not isinstance(code, str) or not currency.is_known(code):
            raise ValueError(f"currency {code!r} is not an active ISO 4217 code")
        if not _AMOUNT.match(amount):
            raise ValueError(f'amount {amount!r} is not a non-negative decimal such as "25.00"')
        places = currency.exponent(code)
        _, _, fraction = amount.partition(".")
        if len(fraction) > places:
            raise ValueError(f"{code} has {places} decimal places; {amount!r} has {len(fraction)}")
        return cls(int(Decimal(amount).scaleb(places)), code)

    @classmethod
    def from_decimal(cls, value: Decimal, code: str) -> Money:
        """Round a computed major-unit value half-up to the currency's minor unit."""
        places = currency.exponent(code)
        return cls(int(value.scaleb(places).quantize(Decimal(1), rounding=ROUND_HALF_UP)), code)

    def as_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency.exponent(self.currency))

    def format_amount(self) -> str:
        places = currency.exponent(self.currency)
        return f"{self.as_decimal():.{places}f}"

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.format_amount(), "currency": self.currency}

    def __str__(self) -> str:
        return f"{self.format_amount()} {self.currency}"
