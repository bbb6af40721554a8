"""Reading the ECB files: every published layout, legacy codes skipped, bad cells named."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from laurel.fx import ecb
from laurel.kit.errors import Invalid
from tests.fx.samples import DAILY_CSV, DAILY_XML, HISTORY_CSV, zipped


def _rates(parsed: ecb.Parsed) -> dict[tuple[date, str], Decimal]:
    return {(q.day, q.currency): q.rate for q in parsed.quotes}


def test_daily_csv_with_spaces_and_trailing_comma() -> None:
    parsed = ecb.parse(DAILY_CSV.encode())
    rates = _rates(parsed)
    assert len(rates) == 30
    assert rates[(date(2026, 11, 25), "USD")] == Decimal("1.0450")
    assert rates[(date(2026, 11, 25), "IDR")] == Decimal("16890.12")
    assert parsed.problems == []


def test_history_csv_skips_legacy_codes_and_na_cells() -> None:
    parsed = ecb.parse(HISTORY_CSV.encode())
    rates = _rates(parsed)
    assert parsed.skipped_currencies == {"CYP"}
    assert len(rates) == 16
    assert rates[(date(2026, 11, 10), "BRL")] == Decimal("5.8000")


def test_zip_and_xml_read_like_csv() -> None:
    from_zip = _rates(ecb.parse(zipped("eurofxref.csv", DAILY_CSV)))
    assert from_zip == _rates(ecb.parse(DAILY_CSV.encode()))
    from_xml = _rates(ecb.parse(DAILY_XML.encode()))
    assert from_xml == {
        (date(2026, 11, 25), "USD"): Decimal("1.0450"),
        (date(2026, 11, 25), "JPY"): Decimal("160.12"),
        (date(2026, 11, 25), "GBP"): Decimal("0.83455"),
    }


def test_bad_cells_are_named_and_good_ones_kept() -> None:
    text = "Date,USD,JPY,\n2026-11-25,1.04x,160.12,\n31 Foo 2026,1.0,2.0,\n2026-11-24,-1,159,\n"
    parsed = ecb.parse(text.encode())
    assert _rates(parsed) == {
        (date(2026, 11, 25), "JPY"): Decimal("160.12"),
        (date(2026, 11, 24), "JPY"): Decimal("159"),
    }
    assert parsed.problems == [
        "line 2, column USD: rate '1.04x' is not a decimal number",
        "line 3, column Date: date '31 Foo 2026' is neither YYYY-MM-DD nor like '25 November 2026'",
        "line 4, column USD: rate '-1' must be a positive number",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "rates.csv is empty"),
        (b"Currency,USD\n2026-11-25,1\n", "the first column of the header must be 'Date'"),
        (b"PK\x03\x04 not really", "the ZIP archive is damaged"),
        (b"<Cube><Cube time='2026-11-25'>", "the XML is not well-formed"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(content: bytes, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        ecb.parse(content, "rates.csv")
    assert message in caught.value.detail[0]["message"]
