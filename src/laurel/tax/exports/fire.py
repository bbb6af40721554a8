"""IRS FIRE file (Publication 1220, Part C): 750-byte records T, A, B, C, F for 1099-NEC and
1099-MISC, tax years up to 2025 (FIRE is retired for later years; IRIS takes them).

Layout as collected in shared/reference/irs-1099-formats.md §1 (positions are 1-based and
inclusive, as in the publication). Text is left-justified and blank-filled, counts and amounts
right-justified and zero-filled (12 digits of cents per payee amount, 18 per control total).
Every record is exactly 750 characters; positions 749-750 hold CR/LF, so the file is a run of
750-byte lines. No Combined Federal/State filing (no K records): A-6 is blank and B 747-748 too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from laurel.kit.errors import field_error
from laurel.tax.exports.common import ExportFile, Payee, irs_text, name_control
from laurel.tax.payer import Payer

LAST_YEAR = 2025
RECORD = 750
CRLF = "\r\n"
AMOUNT_CODES = "123456789ABCDEFGHJ"
"""Payment amount fields 1-9, A-H, J in B-record order (J follows H: there is no I)."""
RETURN_TYPE = {"1099-NEC": "NE", "1099-MISC": "A"}
BOX_CODE = {"1099-NEC": "1", "1099-MISC": "3"}
"""The amount code our payments use: NEC box 1, MISC box 3 (other income)."""
WITHHOLDING_CODE = "4"


class Record:
    """A 750-character record filled field by field (1-based inclusive positions)."""

    def __init__(self, kind: str) -> None:
        self._chars = [" "] * RECORD
        self.text(1, 1, kind)
        self._chars[748:750] = list(CRLF)

    def text(self, start: int, end: int, value: str) -> None:
        width = end - start + 1
        self._chars[start - 1 : end] = list(value[:width].ljust(width))

    def number(self, start: int, end: int, value: int) -> None:
        width = end - start + 1
        digits = str(value)
        if value < 0 or len(digits) > width:
            raise ValueError(f"{value} does not fit positions {start}-{end}")
        self._chars[start - 1 : end] = list(digits.zfill(width))

    def __str__(self) -> str:
        line = "".join(self._chars)
        assert len(line) == RECORD
        return line


@dataclass(frozen=True, slots=True)
class Block:
    """The payees of one type of return (one A record, its B records, one C record)."""

    form_type: str
    payees: list[Payee]

    def amounts(self, payee: Payee) -> dict[str, int]:
        found = {BOX_CODE[self.form_type]: payee.total.usd_minor}
        if payee.total.withholding_minor:
            found[WITHHOLDING_CODE] = payee.total.withholding_minor
        return found

    def codes(self) -> str:
        used = {BOX_CODE[self.form_type]}
        if any(p.total.withholding_minor for p in self.payees):
            used.add(WITHHOLDING_CODE)
        return "".join(c for c in AMOUNT_CODES if c in used)


def _zip(value: str | None) -> str:
    digits = "".join(ch for ch in value or "" if ch.isdigit())
    return digits if len(digits) in (5, 9) else ""


def transmitter(
    tax_year: int, payer: Payer, payees: int, seq: int, *, test: bool, prior_year: bool
) -> str:
    r = Record("T")
    r.number(2, 5, tax_year)
    r.text(6, 6, "P" if prior_year else "")
    r.text(7, 15, payer.tin)
    r.text(16, 20, payer.tcc.upper())
    r.text(28, 28, "T" if test else "")
    r.text(30, 69, irs_text(payer.name))
    r.text(70, 109, irs_text(payer.name_2))
    r.text(110, 149, irs_text(payer.name))
    r.text(150, 189, irs_text(payer.name_2))
    r.text(190, 229, irs_text(payer.address))
    r.text(230, 269, irs_text(payer.city))
    r.text(270, 271, payer.state.upper())
    r.text(272, 280, _zip(payer.zip))
    r.number(296, 303, payees)
    r.text(304, 343, irs_text(payer.contact_name))
    r.text(344, 358, payer.phone)
    r.text(359, 408, payer.email)
    r.number(500, 507, seq)
    r.text(518, 518, payer.vendor_indicator)
    return str(r)


def issuer(tax_year: int, payer: Payer, block: Block, seq: int) -> str:
    r = Record("A")
    r.number(2, 5, tax_year)
    r.text(12, 20, payer.tin)
    r.text(26, 27, RETURN_TYPE[block.form_type])
    r.text(28, 45, block.codes())
    r.text(53, 92, irs_text(payer.name))
    r.text(93, 132, irs_text(payer.name_2))
    r.text(133, 133, "0")
    r.text(134, 173, irs_text(payer.address))
    r.text(174, 213, irs_text(payer.city))
    r.text(214, 215, payer.state.upper())
    r.text(216, 224, _zip(payer.zip))
    r.text(225, 239, payer.phone)
    r.number(500, 507, seq)
    return str(r)


def _amount_start(code: str) -> int:
    return 55 + 12 * AMOUNT_CODES.index(code)


def payee(tax_year: int, block: Block, p: Payee, seq: int) -> str:
    r = Record("B")
    profile = p.profile
    r.number(2, 5, tax_year)
    r.text(7, 10, name_control(profile))
    tin_type = profile.tin_type if profile and p.tin else None
    r.text(11, 11, {"EIN": "1", "SSN": "2", "ITIN": "2"}.get(tin_type or "", ""))
    r.text(12, 20, p.tin or "")
    r.text(21, 40, p.account_number)
    amounts = block.amounts(p)
    for code in AMOUNT_CODES:
        start = _amount_start(code)
        r.number(start, start + 11, amounts.get(code, 0))
    foreign = profile is not None and profile.country != "US"
    r.text(287, 287, "1" if foreign else "")
    r.text(288, 327, irs_text(p.name))
    r.text(368, 407, irs_text(profile.address if profile else ""))
    if foreign and profile is not None:
        # Free-form city, province and postal code, and country, in the city/state/ZIP area.
        place = " ".join(x for x in (profile.city, profile.state, profile.postal_code) if x)
        r.text(448, 498, irs_text(f"{place} {profile.country}"))
    else:
        r.text(448, 487, irs_text(profile.city if profile else ""))
        r.text(488, 489, (profile.state or "").upper() if profile else "")
        r.text(490, 498, _zip(profile.postal_code if profile else ""))
    r.number(500, 507, seq)
    r.text(544, 544, "2" if profile is not None and profile.second_tin_notice else "")
    r.number(723, 734, 0)
    r.number(735, 746, 0)
    return str(r)


def end_of_issuer(block: Block, seq: int) -> str:
    r = Record("C")
    r.number(2, 9, len(block.payees))
    totals = dict.fromkeys(AMOUNT_CODES, 0)
    for p in block.payees:
        for code, value in block.amounts(p).items():
            totals[code] += value
    for i, code in enumerate(AMOUNT_CODES):
        r.number(16 + 18 * i, 33 + 18 * i, totals[code])
    r.number(500, 507, seq)
    return str(r)


def end_of_transmission(issuers: int, payees: int, seq: int) -> str:
    r = Record("F")
    r.number(2, 9, issuers)
    r.text(10, 30, "0" * 21)
    r.number(50, 57, payees)
    r.number(500, 507, seq)
    return str(r)


def build(
    tax_year: int,
    payer: Payer,
    blocks: Iterable[Block],
    *,
    test: bool,
    current_year: int,
) -> ExportFile:
    if tax_year > LAST_YEAR:
        raise field_error(
            "year",
            f"FIRE takes tax years up to {LAST_YEAR}; file {tax_year} through IRIS "
            "(the iris export)",
        )
    if payer.vendor_indicator != "I":
        raise field_error(
            "vendor_indicator",
            "V needs the vendor's name and address in the T record, which Laurel does not "
            "store; set I (software written in-house) for a self-hosted install",
        )
    filled = [b for b in blocks if b.payees]
    payees = sum(len(b.payees) for b in filled)
    lines = [
        transmitter(tax_year, payer, payees, 1, test=test, prior_year=tax_year < current_year - 1)
    ]
    for block in filled:
        lines.append(issuer(tax_year, payer, block, len(lines) + 1))
        for p in block.payees:
            lines.append(payee(tax_year, block, p, len(lines) + 1))
        lines.append(end_of_issuer(block, len(lines) + 1))
    lines.append(end_of_transmission(len(filled), payees, len(lines) + 1))
    content = "".join(lines).encode("ascii")
    return ExportFile(f"fire-1099-{tax_year}{'-test' if test else ''}.txt", "text/plain", content)
