"""The IRIS CSV header, field by field, against ``shared/reference/irs-1099-formats.md`` §2.2.

The reference lists the template columns as prose (``1 Form Type · 2 Tax Year · ...``). This
test reads that section from the shared file and rebuilds, for tax year 2026, the header the
reference describes: the 37 common columns, then the form's own. Where the reference records a
spelling variant (``$5000 [or $5,000]``) the first spelling is the template's as reproduced; the
TY 2025 NEC box 3 is kept and the MISC box 14 of TY <= 2024 templates is dropped (the reference
has no TY 2026 template: docs/tax.md marks the 2026 header unverified).
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from laurel.tax.exports import iris
from tests.conftest import SHARED
from tests.tax.test_layouts import PAYER, _payee

REFERENCE = SHARED / "reference" / "irs-1099-formats.md"


def _section() -> str:
    text = REFERENCE.read_text(encoding="utf-8")
    start = text.index("### 2.2 IRIS CSV columns")
    return text[start : text.index("### 2.3", start)]


def _paragraph(section: str, title: str) -> str:
    start = section.index(title) + len(title)
    end = section.index("\n\n", start + 2)
    return " ".join(section[start:end].split())


def _columns(paragraph: str) -> list[str]:
    # "[or $5,000]" records another spelling seen; "*(TY 2025 template: X)*" a column added by
    # the TY 2025 template (kept for 2026); "(TY ≤ 2024 templates only)" a column gone since.
    paragraph = re.sub(r"\s*\[or [^\]]*\]", "", paragraph)
    paragraph = re.sub(r"\*\(TY 2025 template: ([^)]*)\)\*", r"\1", paragraph)
    found: list[str] = []
    for part in (p.strip() for p in paragraph.split("·")):
        if not part or "templates only" in part:
            continue
        found.append(part)
    return found


def _states(nec: list[str]) -> list[str]:
    return [c for c in nec if c.startswith("State ")]


def reference_header(form_type: str) -> list[str]:
    section = _section()
    common = [
        re.sub(r"^\d+ ", "", c)
        for c in _columns(
            _paragraph(section, "**Columns shared by both forms, in template order (37):**")
        )
    ]
    nec = _columns(_paragraph(section, "**1099-NEC columns that follow:**"))
    if form_type == "1099-NEC":
        return common + nec
    misc = _columns(_paragraph(section, "**1099-MISC columns that follow:**"))
    assert misc[-1] == 'the same 12 "State 1 / State 2" columns as NEC'
    return common + misc[:-1] + _states(nec)


def test_the_reference_section_reads_as_expected() -> None:
    """Guards the parser: the counts the reference states, and the spelling it kept."""
    nec, misc = reference_header("1099-NEC"), reference_header("1099-MISC")
    assert len(nec) == 37 + 6 + 12
    assert len(misc) == 37 + 16 + 12
    assert nec[0] == "Form Type"
    assert nec[36] == "Form Account Number"
    assert "Box 3 - Excess golden parachute payments" in nec
    assert not any(c.startswith("Box 14") for c in misc)


@pytest.mark.parametrize("form_type", ["1099-NEC", "1099-MISC"])
def test_iris_header_matches_the_reference_field_by_field(form_type: str) -> None:
    expected = reference_header(form_type)
    ours = list(iris.header(form_type))
    for position, (mine, theirs) in enumerate(zip(ours, expected, strict=False), start=1):
        assert mine == theirs, f"{form_type} column {position}: {mine!r} != {theirs!r}"
    assert len(ours) == len(expected)


@pytest.mark.parametrize("form_type", ["1099-NEC", "1099-MISC"])
def test_the_written_file_carries_that_header_and_full_rows(form_type: str) -> None:
    (file,) = iris.build(form_type, 2026, PAYER, [_payee(1)])
    header, row = list(csv.reader(io.StringIO(file.content.decode())))
    assert header == reference_header(form_type)
    assert len(row) == len(header)
    values = dict(zip(header, row, strict=True))
    box = "Box 1 - Nonemployee Compensation" if form_type == "1099-NEC" else "Box 3 - Other Income"
    assert values[box] == "2500.00"
    assert values["Form Type"] == form_type
    assert values["Tax Year"] == "2026"
