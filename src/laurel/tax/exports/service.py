"""Exports for finance: gather a year's payments, build the file, audit the export.

Every export reads TINs or pay data, so each is recorded in the audit trail (who, which file,
which year, how many payees and what total) in the same unit of work.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.tax import aggregation, forms, thresholds, tins
from laurel.tax import payer as tax_payer
from laurel.tax.exports import fire, iris, payroll, s1042, totals
from laurel.tax.exports.common import ExportFile, Payee
from laurel.tax.models import FormType, RecordStatus, TaxRecord
from laurel.tax.payer import require_payer


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


IRIS_FORMS = {"nec": FormType.nec, "misc": FormType.misc}


def _check_year(tax_year: int) -> None:
    if not thresholds.FIRST_YEAR <= tax_year <= thresholds.LAST_YEAR:
        raise field_error(
            "year", f"must be between {thresholds.FIRST_YEAR} and {thresholds.LAST_YEAR}"
        )


def payees(
    session: Session,
    organization_id: uuid.UUID,
    tax_year: int,
    form_types: list[str] | None = None,
    *,
    with_tins: bool = False,
) -> list[Payee]:
    found = aggregation.year_totals(session, organization_id, tax_year, form_types=form_types)
    ids = {t.learner_id for t in found}
    people = learners.get_many(session, organization_id, ids)
    profiles = forms.profiles_for_export(session, organization_id, ids)
    out = []
    for total in found:
        person = people.get(total.learner_id)
        profile = profiles.get(total.learner_id)
        tin = None
        if with_tins and profile is not None and profile.tin_sealed:
            tin = tins.unseal(profile.tin_sealed)
        out.append(
            Payee(
                total=total,
                external_id=person.external_id if person else "",
                learner_name=(person.name or "") if person else "",
                email=person.email if person else None,
                classification=person.classification if person else "",
                profile=profile,
                tin=tin,
            )
        )
    out.sort(key=lambda p: (p.total.form_type, p.external_id))
    return out


def _audit(
    session: Session, actor: Actor, kind: str, tax_year: int, file: ExportFile, people: list[Payee]
) -> None:
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action=f"tax:export:{kind}",
        target_type="tax_export",
        target_id=f"{kind}:{tax_year}",
        details={
            "tax_year": tax_year,
            "file": file.name,
            "bytes": len(file.content),
            "payees": len(people),
            "total_usd": Money(sum(p.total.usd_minor for p in people), "USD").format_amount(),
        },
    )


def export_totals(session: Session, actor: Actor, tax_year: int, fmt: Format) -> ExportFile:
    _check_year(tax_year)
    people = payees(session, actor.organization_id, tax_year)
    limit = thresholds.for_year(session, actor.organization_id, tax_year).amount_minor
    build = totals.as_xlsx if fmt is Format.xlsx else totals.as_csv
    file = build(tax_year, people, limit)
    _audit(session, actor, f"totals-{fmt.value}", tax_year, file, people)
    return file


def _reportable(people: list[Payee], limit: int) -> list[Payee]:
    """The payees who get a return: at or over the threshold, or anything withheld."""
    return [p for p in people if p.total.usd_minor >= limit or p.total.withholding_minor]


def export_iris(session: Session, actor: Actor, tax_year: int, form: str) -> ExportFile:
    _check_year(tax_year)
    if form not in IRIS_FORMS:
        raise field_error("form", "nec (1099-NEC) or misc (1099-MISC)")
    if tax_year < iris.FIRST_YEAR:
        raise field_error(
            "year",
            f"the IRIS export covers tax years from {iris.FIRST_YEAR}; use the fire export "
            f"for {tax_year}",
        )
    payer = require_payer(session, actor.organization_id)
    form_type = IRIS_FORMS[form].value
    limit = thresholds.for_year(session, actor.organization_id, tax_year).amount_minor
    people = _reportable(
        payees(session, actor.organization_id, tax_year, [form_type], with_tins=True), limit
    )
    file = iris.bundle(
        iris.build(form_type, tax_year, payer, people),
        f"iris-{form_type.lower().replace('1099-', '1099')}-{tax_year}.zip",
    )
    _audit(session, actor, f"iris-{form}", tax_year, file, people)
    return file


def export_fire(session: Session, actor: Actor, tax_year: int, *, test: bool) -> ExportFile:
    _check_year(tax_year)
    if tax_year > fire.LAST_YEAR:
        raise field_error(
            "year",
            f"FIRE takes tax years up to {fire.LAST_YEAR}; use the iris export for {tax_year}",
        )
    payer = require_payer(session, actor.organization_id, fire=True)
    limit = thresholds.for_year(session, actor.organization_id, tax_year).amount_minor
    blocks = []
    everyone: list[Payee] = []
    for form_type in (FormType.nec.value, FormType.misc.value):
        people = _reportable(
            payees(session, actor.organization_id, tax_year, [form_type], with_tins=True), limit
        )
        blocks.append(fire.Block(form_type, people))
        everyone.extend(people)
    file = fire.build(tax_year, payer, blocks, test=test, current_year=utcnow().year)
    _audit(session, actor, "fire", tax_year, file, everyone)
    return file


def export_payroll(session: Session, actor: Actor, tax_year: int) -> ExportFile:
    _check_year(tax_year)
    rows = list(
        session.scalars(
            select(TaxRecord)
            .where(
                TaxRecord.organization_id == actor.organization_id,
                TaxRecord.livemode.is_(True),
                TaxRecord.tax_year == tax_year,
                TaxRecord.form_type == FormType.w2,
                TaxRecord.status == RecordStatus.delivered,
            )
            .order_by(TaxRecord.paid_on, TaxRecord.id)
        )
    )
    people = learners.get_many(session, actor.organization_id, {r.learner_id for r in rows})
    lines = []
    for r in rows:
        person = people.get(r.learner_id)
        lines.append(
            payroll.WageLine(
                external_id=person.external_id if person else "",
                name=(person.name or "") if person else "",
                email=(person.email or "") if person else "",
                department=(person.department or "") if person else "",
                paid_on=r.paid_on,
                tax_year=r.tax_year,
                reward_id=r.source_id,
                program_id=str(r.program_id or ""),
                amount=Money(r.amount_minor, r.currency).format_amount(),
                currency=r.currency,
                usd_minor=r.usd_minor,
                rate=r.rate,
                rate_date=r.rate_date,
            )
        )
    file = payroll.as_csv(tax_year, lines)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="tax:export:payroll",
        target_type="tax_export",
        target_id=f"payroll:{tax_year}",
        details={
            "tax_year": tax_year,
            "file": file.name,
            "payments": len(lines),
            "employees": len({r.learner_id for r in rows}),
            "total_usd": Money(sum(r.usd_minor for r in rows), "USD").format_amount(),
        },
    )
    return file


def export_1042s(session: Session, actor: Actor, tax_year: int, fmt: Format) -> ExportFile:
    """Non-US persons' payments flagged for Form 1042-S in ``tax_year``, one line per
    recipient, with the organization's chapter 3 status and income codes. Every flagged
    recipient is listed: 1042-S has no reporting threshold like the 1099s."""
    _check_year(tax_year)
    settings = tax_payer.get(session, actor.organization_id) or tax_payer.DEFAULT
    people = [
        p
        for p in payees(session, actor.organization_id, tax_year, [FormType.s1042.value])
        if p.total.reports_1042s
    ]
    learner_rows = learners.get_many(session, actor.organization_id, {p.learner_id for p in people})
    lines = []
    for p in people:
        profile = p.profile
        person = learner_rows.get(p.learner_id)
        lines.append(
            s1042.Line(
                account_number=p.account_number,
                external_id=p.external_id,
                name=p.name,
                country=(profile.country if profile else None)
                or ((person.country or "") if person else ""),
                citizenship=(profile.citizenship or "") if profile else "",
                address=" ".join(
                    part
                    for part in ((profile.address, profile.address_2) if profile else ())
                    if part
                ),
                city=profile.city if profile else "",
                state=(profile.state or "") if profile else "",
                postal_code=(profile.postal_code or "") if profile else "",
                form_on_file=profile.form if profile else "",
                gross_minor=p.total.usd_minor,
                withheld_minor=p.total.withholding_minor,
                payments=p.total.payments,
            )
        )
    build = s1042.as_xlsx if fmt is Format.xlsx else s1042.as_csv
    file = build(
        tax_year,
        lines,
        settings.chapter3_status_1042s or tax_payer.DEFAULT_CHAPTER3_STATUS,
        settings.income_code_1042s or tax_payer.DEFAULT_INCOME_CODE,
    )
    _audit(session, actor, f"1042s-{fmt.value}", tax_year, file, people)
    return file
