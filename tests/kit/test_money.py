from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laurel.kit.money import Money


@pytest.mark.parametrize(
    ("text", "code", "minor"),
    [
        ("25.00", "USD", 2500),
        ("25", "USD", 2500),
        ("0.1", "USD", 10),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("30", "PTS", 30),
    ],
)
def test_parse(text: str, code: str, minor: int) -> None:
    assert Money.parse(text, code) == Money(minor, code)


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        (25.5, "USD", "decimal string"),
        ("25.001", "USD", "2 decimal places"),
        ("1.5", "JPY", "0 decimal places"),
        ("-1.00", "USD", "non-negative"),
        ("1e3", "USD", "non-negative decimal"),
        ("25.00", "XXX", "ISO 4217"),
        ("25.00", "usd", "ISO 4217"),
        ("", "USD", "non-negative"),
    ],
)
def test_parse_refuses(value: object, code: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Money.parse(value, code)  # type: ignore[arg-type]


def test_float_minor_refused() -> None:
    with pytest.raises(TypeError):
        Money(10.0, "USD")  # type: ignore[arg-type]


@given(
    minor=st.integers(min_value=0, max_value=10**14 - 1),
    code=st.sampled_from(["USD", "JPY", "KWD", "EUR", "CLF"]),
)
def test_format_parse_round_trip(minor: int, code: str) -> None:
    money = Money(minor, code)
    assert Money.parse(money.format_amount(), code) == money


@given(value=st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False))
def test_from_decimal_rounds_half_up_to_minor_unit(value: Decimal) -> None:
    money = Money.from_decimal(value, "USD")
    assert abs(money.as_decimal() - value) <= Decimal("0.005")
