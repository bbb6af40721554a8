"""File builders on their own: IRIS files split at 100 returns, FIRE foreign addresses and
field overflow, IRS name lines."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile

import pytest

from laurel.tax.aggregation import YearTotal
from laurel.tax.exports import fire, iris
from laurel.tax.exports.common import Payee, irs_text, name_control
from laurel.tax.models import TaxProfile
from laurel.tax.payer import Payer

PAYER = Payer(
    name="Acme Learning Inc",
    name_2="",
    tin="123456780",
    address="100 Main St",
    city="Springfield",
    state="IL",
    zip="62701",
    phone="2175550100",
    email="finance@acme.example",
    contact_name="Pat Payer",
    tcc="AB12C",
    vendor_indicator="I",
)


def _payee(n: int, *, country: str = "US", cents: int = 250_000) -> Payee:
    profile = TaxProfile(
        form="W-9" if country == "US" else "W-8BEN",
        name_type="I",
        first_name="José",
        last_name=f"O'Brien-Núñez {n}",
        tin_type="SSN",
        tin_last4="6780",
        address="Calle Mayor 1" if country != "US" else "1 Main St",
        city="Madrid" if country != "US" else "Austin",
        state=None if country != "US" else "TX",
        postal_code="28013" if country != "US" else "78701",
        country=country,
        second_tin_notice=n == 0,
    )
    total = YearTotal(uuid.uuid4(), "1099-NEC", "1", cents, 0, 1, False, False)
    return Payee(total, f"L{n:03d}", "", None, "contractor", profile, "123456780")


def test_iris_splits_at_100_returns_into_a_zip() -> None:
    files = iris.build("1099-NEC", 2026, PAYER, [_payee(n) for n in range(150)])
    assert [f.name for f in files] == [
        "iris-1099nec-2026-part1.csv",
        "iris-1099nec-2026-part2.csv",
    ]
    counts = [len(list(csv.reader(io.StringIO(f.content.decode())))) - 1 for f in files]
    assert counts == [100, 50]
    bundled = iris.bundle(files, "iris-1099nec-2026.zip")
    assert bundled.media_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bundled.content)) as archive:
        assert archive.namelist() == [f.name for f in files]
    [first, *_] = list(csv.DictReader(io.StringIO(files[0].content.decode())))
    assert first["2nd TIN Notice"] == "Y"
    assert first["Recipient First Name"] == "José"


def test_fire_foreign_address_is_free_form_with_the_indicator() -> None:
    block = fire.Block("1099-NEC", [_payee(1, country="ES")])
    record = fire.payee(2025, block, block.payees[0], 3)
    assert len(record) == 750
    assert record[286] == "1"  # position 287
    assert record[447:498] == "MADRID 28013 ES".ljust(51)  # 448-498: free-form city block
    assert record[287:327] == "JOSE OBRIEN-NUNEZ 1".ljust(40)
    assert record[6:10] == "OBRI"  # name control: surname letters only
    assert record[543] == " "
    noticed = fire.Block("1099-NEC", [_payee(0)])
    assert fire.payee(2025, noticed, noticed.payees[0], 3)[543] == "2"  # position 544


def test_fire_refuses_amounts_that_do_not_fit() -> None:
    block = fire.Block("1099-NEC", [_payee(1, cents=10**12)])
    with pytest.raises(ValueError, match="does not fit positions 55-66"):
        fire.payee(2025, block, block.payees[0], 3)


def test_fire_prior_year_flag_and_refusals() -> None:
    blocks = [fire.Block("1099-NEC", [_payee(1)])]
    old = fire.build(2023, PAYER, blocks, test=False, current_year=2026).content.decode()
    assert old[5] == "P"
    current = fire.build(2025, PAYER, blocks, test=False, current_year=2026).content.decode()
    assert current[5] == " "
    with pytest.raises(Exception, match="up to 2025"):
        fire.build(2026, PAYER, blocks, test=False, current_year=2027)


def test_irs_name_lines() -> None:
    assert irs_text("Dr. Zoë O'Hara & Co., Ltd.") == "DR ZOE OHARA & CO LTD"
    assert irs_text("  Müller   GmbH ") == "MULLER GMBH"
    assert name_control(None) == ""
