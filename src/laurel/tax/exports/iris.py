"""IRS IRIS Taxpayer Portal bulk upload: one CSV per form type, for tax year 2026 on.

The IRS publishes the templates only inside the portal (per form and tax year) and the header
row must match it exactly. The columns here are those of shared/reference/irs-1099-formats.md
§2.2, word for word: the TY 2024 template header as reproduced in several independent
implementations, with its TY 2025 changes (NEC box 3 added, MISC box 14 gone). The reference
has no TY 2026 template (§3.1, §4 item 2: new tips/overtime boxes are possible), so for TY 2026
these columns are unverified: check them against the template downloaded for the year and edit
:data:`COMMON`, :data:`NEC` or :data:`MISC` when the IRS changes them. Amounts are decimal
dollars with two places; checkboxes ``Y`` or blank. A file holds at most :data:`ROWS_PER_FILE`
returns (the portal's per-upload limit as reported); more go into further files.
"""

from __future__ import annotations

import csv
import io
import zipfile

from laurel.tax.exports.common import ExportFile, Payee, dollars
from laurel.tax.payer import Payer

FIRST_YEAR = 2026
ROWS_PER_FILE = 100

COMMON = (
    "Form Type",
    "Tax Year",
    "Payer TIN Type",
    "Payer Taxpayer ID Number",
    "Payer Name Type",
    "Payer Business or Entity Name Line 1",
    "Payer Business or Entity Name Line 2",
    "Payer First Name",
    "Payer Middle Name",
    "Payer Last Name (Surname)",
    "Payer Suffix",
    "Payer Country",
    "Payer Address Line 1",
    "Payer Address Line 2",
    "Payer City/Town",
    "Payer State/Province/Territory",
    "Payer ZIP/Postal Code",
    "Payer Phone Type",
    "Payer Phone",
    "Payer Email Address",
    "Recipient TIN Type",
    "Recipient Taxpayer ID Number",
    "Recipient Name Type",
    "Recipient Business or Entity Name Line 1",
    "Recipient Business or Entity Name Line 2",
    "Recipient First Name",
    "Recipient Middle Name",
    "Recipient Last Name (Surname)",
    "Recipient Suffix",
    "Recipient Country",
    "Recipient Address Line 1",
    "Recipient Address Line 2",
    "Recipient City/Town",
    "Recipient State/Province/Territory",
    "Recipient ZIP/Postal Code",
    "Office Code",
    "Form Account Number",
)
_STATES = tuple(
    f"State {n} - {field}" if field else f"State {n}"
    for n in (1, 2)
    for field in (
        "",
        "State Tax Withheld",
        "State/Payer state number",
        "State income",
        "Local income tax withheld",
        "Special Data Entries",
    )
)
NEC = (
    "2nd TIN Notice",
    "Box 1 - Nonemployee Compensation",
    "Box 2 - Payer made direct sales totaling $5000 or more of consumer products to a "
    "recipient for resale",
    "Box 3 - Excess golden parachute payments",
    "Box 4 - Federal income tax withheld",
    "Combined Federal/State Filing",
    *_STATES,
)
MISC = (
    "FATCA Filing Requirements",
    "2nd TIN Notice",
    "Box 1 - Rents",
    "Box 2 - Royalties",
    "Box 3 - Other Income",
    "Box 4 - Federal income tax withheld",
    "Box 5 - Fishing boat proceeds",
    "Box 6 - Medical and health care payments",
    "Box 7 - Direct sales of $5000 or more of consumer products to a recipient for resale",
    "Box 8 - Substitute payments in lieu of dividends or interest",
    "Box 9 - Crop insurance proceeds",
    "Box 10 - Gross proceeds paid to an attorney",
    "Box 11 - Fish purchased for resale",
    "Box 12 - Section 409A deferrals",
    "Box 15 - Nonqualified deferred compensation",
    "Combined Federal/State Filing",
    *_STATES,
)
FORMS = {"1099-NEC": NEC, "1099-MISC": MISC}


def header(form_type: str) -> tuple[str, ...]:
    return COMMON + FORMS[form_type]


def _row(form_type: str, tax_year: int, payer: Payer, payee: Payee) -> list[str]:
    profile = payee.profile
    business = profile is not None and profile.name_type == "B"
    common = [
        form_type,
        str(tax_year),
        "EIN",
        payer.tin,
        "B",
        payer.name,
        payer.name_2,
        "",
        "",
        "",
        "",
        "US",
        payer.address,
        "",
        payer.city,
        payer.state,
        payer.zip,
        "",
        payer.phone,
        payer.email,
        (profile.tin_type or "") if profile and payee.tin else "",
        payee.tin or "",
        "B" if business else "I",
        (profile.business_name or "") if business and profile else "",
        "",
        "" if business or profile is None else profile.first_name or "",
        "" if business or profile is None else profile.middle_name or "",
        ("" if business else profile.last_name or "") if profile else payee.learner_name,
        "" if business or profile is None else profile.suffix or "",
        profile.country if profile else "US",
        profile.address if profile else "",
        (profile.address_2 or "") if profile else "",
        profile.city if profile else "",
        (profile.state or "") if profile else "",
        (profile.postal_code or "") if profile else "",
        "",
        payee.account_number,
    ]
    second = "Y" if profile is not None and profile.second_tin_notice else ""
    total = dollars(payee.total.usd_minor)
    withheld = dollars(payee.total.withholding_minor) if payee.total.withholding_minor else ""
    if form_type == "1099-NEC":
        specific = [second, total, "", "", withheld, ""] + [""] * len(_STATES)
    else:
        specific = ["", second, "", "", total, withheld] + [""] * 9 + [""] + [""] * len(_STATES)
    return common + specific


def build(form_type: str, tax_year: int, payer: Payer, payees: list[Payee]) -> list[ExportFile]:
    """One CSV per :data:`ROWS_PER_FILE` returns (at least one, with the header only)."""
    columns = header(form_type)
    slug = form_type.lower().replace("1099-", "1099")
    parts = [payees[i : i + ROWS_PER_FILE] for i in range(0, len(payees), ROWS_PER_FILE)] or [[]]
    files = []
    for n, part in enumerate(parts, start=1):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        for payee in part:
            row = _row(form_type, tax_year, payer, payee)
            assert len(row) == len(columns)
            writer.writerow(row)
        suffix = f"-part{n}" if len(parts) > 1 else ""
        files.append(
            ExportFile(
                f"iris-{slug}-{tax_year}{suffix}.csv",
                "text/csv; charset=utf-8",
                buffer.getvalue().encode(),
            )
        )
    return files


def bundle(files: list[ExportFile], name: str) -> ExportFile:
    """One file as is; several as a ZIP (one upload each)."""
    if len(files) == 1:
        return files[0]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(f.name, f.content)
    return ExportFile(name, "application/zip", buffer.getvalue())
