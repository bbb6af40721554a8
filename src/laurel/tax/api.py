"""HTTP for tax: settings, thresholds, learners' forms and requests, records, totals, exports.

Everything here reads or changes pay data: admin keys only (live keys for changes to shared
settings). Form views and every export are audited by the services.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from laurel.kit.http import Admin, DatabaseDep, LiveAdmin, Reader, errors, read_only, unit_of_work
from laurel.kit.money import Money
from laurel.rewards import service as rewards
from laurel.tax import aggregation, forms, payer, records, requests, thresholds
from laurel.tax.exports import service as exports
from laurel.tax.exports.common import ExportFile
from laurel.tax.schemas import (
    FormRequestIn,
    FormRequestOut,
    ProfileIn,
    ProfileOut,
    SecondTinNoticeIn,
    SettingsIn,
    SettingsOut,
    TaxRecordOut,
    ThresholdIn,
    ThresholdOut,
    TotalsOut,
    YearTotalOut,
)

router = APIRouter(prefix="/api/v1/tax", tags=["tax"])

Year = Annotated[int, Query(ge=thresholds.FIRST_YEAR, le=thresholds.LAST_YEAR, examples=[2026])]


def _file(file: ExportFile) -> Response:
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.name}"'},
    )


FILE_RESPONSES = {
    200: {
        "description": "The file, as an attachment",
        "content": {
            "text/csv": {},
            "text/plain": {},
            "application/zip": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        },
    },
    **errors(401, 403, 422),
}


@router.get(
    "/settings",
    response_model=SettingsOut,
    responses=errors(401, 403),
    summary="The payer and the organization's tax policies",
)
def get_settings(actor: Admin, db: DatabaseDep) -> SettingsOut:
    with read_only(db) as session:
        return SettingsOut.of(payer.get(session, actor.organization_id) or payer.DEFAULT)


@router.patch(
    "/settings",
    response_model=SettingsOut,
    responses=errors(401, 403, 422),
    summary="Change the payer's details or the tax policies (live admin key)",
)
def update_settings(body: SettingsIn, actor: LiveAdmin, db: DatabaseDep) -> SettingsOut:
    changes = body.model_dump(exclude_unset=True)
    if "request_at" in changes:
        amount = body.request_at.to_money() if body.request_at else Money(50_000, "USD")
        if amount.currency != "USD":
            from laurel.kit.errors import field_error  # noqa: PLC0415

            raise field_error("request_at.currency", "the request amount is in USD")
        changes.pop("request_at")
        changes["request_at_minor"] = amount.minor
    if "program_income" in changes and changes["program_income"] is None:
        changes["program_income"] = {}
    with unit_of_work(db) as session:
        return SettingsOut.of(payer.update(session, actor, changes))


@router.get(
    "/thresholds",
    response_model=list[ThresholdOut],
    responses=errors(401, 403, 422),
    summary="Reporting thresholds per tax year (the law's defaults unless the org set one)",
)
def list_thresholds(
    actor: Reader,
    db: DatabaseDep,
    from_year: Annotated[int, Query(alias="from")] = 2024,
    to_year: Annotated[int, Query(alias="to")] = 2030,
) -> list[ThresholdOut]:
    with read_only(db) as session:
        found = thresholds.listing(session, actor.organization_id, from_year, to_year)
        return [ThresholdOut.of(t) for t in found]


@router.put(
    "/thresholds/{tax_year}",
    response_model=ThresholdOut,
    responses=errors(401, 403, 422),
    summary="Set the threshold for a tax year (e.g. the IRS's indexed figure from 2027)",
)
def put_threshold(
    tax_year: int, body: ThresholdIn, actor: LiveAdmin, db: DatabaseDep
) -> ThresholdOut:
    with unit_of_work(db) as session:
        return ThresholdOut.of(thresholds.put(session, actor, tax_year, body.amount.to_money()))


@router.delete(
    "/thresholds/{tax_year}",
    response_model=ThresholdOut,
    responses=errors(401, 403, 404, 422),
    summary="Go back to the law's default for a tax year",
)
def reset_threshold(tax_year: int, actor: LiveAdmin, db: DatabaseDep) -> ThresholdOut:
    with unit_of_work(db) as session:
        return ThresholdOut.of(thresholds.reset(session, actor, tax_year))


@router.get(
    "/learners/{learner_id}/form",
    response_model=ProfileOut,
    responses=errors(401, 403, 404),
    summary="A learner's W-9 or W-8BEN on file (TIN masked; every view is audited)",
)
def get_form(
    learner_id: uuid.UUID,
    actor: Admin,
    db: DatabaseDep,
    reveal: Annotated[bool, Query(description="Show the whole TIN (audited as such)")] = False,
) -> ProfileOut:
    with unit_of_work(db) as session:
        return ProfileOut.of(forms.view(session, actor, learner_id, reveal=reveal))


@router.put(
    "/learners/{learner_id}/form",
    response_model=ProfileOut,
    responses=errors(401, 403, 404, 422),
    summary="Enter a form received on paper; rewards held for it are released",
)
def put_form(learner_id: uuid.UUID, body: ProfileIn, actor: Admin, db: DatabaseDep) -> ProfileOut:
    data = body.model_dump(exclude_none=True)
    data["certify"] = "on" if body.certify else ""
    with unit_of_work(db) as session:
        forms.enter(session, actor, learner_id, data)
        return ProfileOut.of(forms.view(session, actor, learner_id, reveal=False))


@router.put(
    "/learners/{learner_id}/form/second-tin-notice",
    response_model=ProfileOut,
    responses=errors(401, 403, 404, 422),
    summary="Record the IRS's second B-notice: the TIN counts as missing until a new form",
)
def put_second_tin_notice(
    learner_id: uuid.UUID, body: SecondTinNoticeIn, actor: LiveAdmin, db: DatabaseDep
) -> ProfileOut:
    with unit_of_work(db) as session:
        forms.mark_second_tin_notice(session, actor, learner_id, notified=body.notified)
        return ProfileOut.of(forms.view(session, actor, learner_id, reveal=False))


@router.post(
    "/learners/{learner_id}/form-requests",
    response_model=FormRequestOut,
    status_code=201,
    responses=errors(401, 403, 404, 422),
    summary="Ask a learner for a tax form: a secure, expiring, single-use link",
)
def request_form(
    learner_id: uuid.UUID, body: FormRequestIn, actor: Admin, db: DatabaseDep
) -> FormRequestOut:
    with unit_of_work(db) as session:
        issued = forms.request_manually(session, actor, learner_id, body.form)
        return FormRequestOut.of(issued.request, issued.link)


@router.get(
    "/learners/{learner_id}/form-requests",
    response_model=list[FormRequestOut],
    responses=errors(401, 403, 404),
    summary="A learner's tax form requests, newest first (a signed-in learner: their own)",
)
def list_form_requests(
    learner_id: uuid.UUID, actor: Reader, db: DatabaseDep
) -> list[FormRequestOut]:
    with read_only(db) as session:
        return [FormRequestOut.of(r) for r in requests.list_for(session, actor, learner_id)]


@router.get(
    "/rewards/{reward_id}",
    response_model=TaxRecordOut,
    responses=errors(401, 403, 404),
    summary="A reward's tax treatment, USD amount and tax year",
)
def get_reward_record(reward_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> TaxRecordOut:
    with read_only(db) as session:
        reward = rewards.get(session, actor, reward_id)
        record = records.for_reward(session, actor.organization_id, reward.id)
        if record is None:
            raise records.RecordNotFound(f"reward {reward_id} has no tax record yet")
        return TaxRecordOut.of(record)


@router.get(
    "/totals",
    response_model=TotalsOut,
    responses=errors(401, 403, 422),
    summary="What was paid in a tax year, per learner and form type (USD)",
)
def year_totals(actor: Admin, db: DatabaseDep, year: Year) -> TotalsOut:
    with read_only(db) as session:
        limit = thresholds.for_year(session, actor.organization_id, year)
        found = aggregation.year_totals(
            session, actor.organization_id, year, livemode=actor.livemode
        )
        return TotalsOut(
            tax_year=year,
            threshold=ThresholdOut.of(limit),
            data=[YearTotalOut.of(t, limit.amount_minor) for t in found],
        )


@router.get(
    "/exports/totals",
    responses=FILE_RESPONSES,
    summary="Per-learner annual totals by form type (CSV or XLSX; audited)",
)
def export_totals(
    actor: LiveAdmin,
    db: DatabaseDep,
    year: Year,
    format: exports.Format = exports.Format.csv,
) -> Response:
    with unit_of_work(db) as session:
        return _file(exports.export_totals(session, actor, year, format))


@router.get(
    "/exports/iris",
    responses=FILE_RESPONSES,
    summary="IRS IRIS bulk-upload CSV for 1099-NEC or 1099-MISC, tax year 2026 on (audited)",
)
def export_iris(
    actor: LiveAdmin,
    db: DatabaseDep,
    year: Year,
    form: Annotated[str, Query(description="nec or misc")],
) -> Response:
    with unit_of_work(db) as session:
        return _file(exports.export_iris(session, actor, year, form))


@router.get(
    "/exports/fire",
    responses=FILE_RESPONSES,
    summary="IRS FIRE file (Publication 1220) for tax years up to 2025 (audited)",
)
def export_fire(
    actor: LiveAdmin,
    db: DatabaseDep,
    year: Year,
    test: Annotated[bool, Query(description="Mark as a test file (T record position 28)")] = False,
) -> Response:
    with unit_of_work(db) as session:
        return _file(exports.export_fire(session, actor, year, test=test))


@router.get(
    "/exports/payroll",
    responses=FILE_RESPONSES,
    summary="Employee rewards treated as wages, one line per payment (audited)",
)
def export_payroll(actor: LiveAdmin, db: DatabaseDep, year: Year) -> Response:
    with unit_of_work(db) as session:
        return _file(exports.export_payroll(session, actor, year))


@router.get(
    "/exports/1042s",
    responses=FILE_RESPONSES,
    summary="Non-US persons' 1042-S reportable payments per recipient (CSV or XLSX; audited)",
)
def export_1042s(
    actor: LiveAdmin,
    db: DatabaseDep,
    year: Year,
    format: exports.Format = exports.Format.csv,
) -> Response:
    with unit_of_work(db) as session:
        return _file(exports.export_1042s(session, actor, year, format))
