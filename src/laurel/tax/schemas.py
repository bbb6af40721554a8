"""API shapes for tax settings, thresholds, forms, requests, records and totals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from laurel.kit.schemas import MoneyIn, MoneyOut
from laurel.learners import sealing
from laurel.tax import tins
from laurel.tax.aggregation import YearTotal
from laurel.tax.forms import ProfileView
from laurel.tax.models import TaxFormRequest, TaxRecord, TaxSettings
from laurel.tax.thresholds import Threshold


class SettingsIn(BaseModel):
    """Fields to change; a field left out keeps its value, ``null`` clears a payer field."""

    model_config = ConfigDict(extra="forbid")

    payer_name: str | None = Field(default=None, max_length=80, examples=["Acme Learning Inc"])
    payer_name_2: str | None = Field(default=None, max_length=80)
    payer_tin: str | None = Field(
        default=None, max_length=12, description="The payer's EIN", examples=["12-3456780"]
    )
    payer_address: str | None = Field(default=None, max_length=80)
    payer_city: str | None = Field(default=None, max_length=80)
    payer_state: str | None = Field(default=None, max_length=2, examples=["IL"])
    payer_zip: str | None = Field(default=None, max_length=10, examples=["62701"])
    payer_phone: str | None = Field(default=None, max_length=20)
    payer_email: str | None = Field(default=None, max_length=120)
    contact_name: str | None = Field(default=None, max_length=80)
    fire_tcc: str | None = Field(default=None, max_length=5, description="FIRE TCC")
    vendor_indicator: Literal["I", "V"] | None = None
    timezone: str | None = Field(
        default=None,
        description="IANA zone whose calendar dates payments (the tax year)",
        examples=["America/Chicago"],
    )
    employee_treatment: Literal["wages", "prize"] | None = None
    missing_tin_policy: Literal["hold", "backup_withholding"] | None = None
    request_at: MoneyIn | None = Field(
        default=None, description="USD year total at which a form request goes out"
    )
    program_income: dict[str, Literal["services", "prize"]] | None = Field(
        default=None, description="Per program id: what its rewards are for non-employees"
    )
    income_code_1042s: str | None = Field(
        default=None,
        max_length=2,
        description="Form 1042-S income code on the 1042-S export (two digits; default 23)",
        examples=["23"],
    )
    chapter3_status_1042s: str | None = Field(
        default=None,
        max_length=2,
        description="Form 1042-S recipient chapter 3 status code on the export (default 16)",
        examples=["16"],
    )


class SettingsOut(BaseModel):
    payer_name: str | None
    payer_name_2: str | None
    payer_tin: str | None = Field(description="Masked: **-***1234")
    payer_address: str | None
    payer_city: str | None
    payer_state: str | None
    payer_zip: str | None
    payer_phone: str | None
    payer_email: str | None
    contact_name: str | None
    fire_tcc: str | None
    vendor_indicator: str
    timezone: str
    employee_treatment: str
    missing_tin_policy: str
    request_at: MoneyOut
    program_income: dict[str, str]
    income_code_1042s: str
    chapter3_status_1042s: str

    @classmethod
    def of(cls, row: TaxSettings) -> SettingsOut:
        return cls(
            payer_name=row.payer_name,
            payer_name_2=row.payer_name_2,
            payer_tin=tins.mask("EIN", row.payer_tin_last4),
            payer_address=row.payer_address,
            payer_city=row.payer_city,
            payer_state=row.payer_state,
            payer_zip=row.payer_zip,
            payer_phone=row.payer_phone,
            payer_email=row.payer_email,
            contact_name=row.contact_name,
            fire_tcc=row.fire_tcc,
            vendor_indicator=row.vendor_indicator,
            timezone=row.timezone,
            employee_treatment=row.employee_treatment,
            missing_tin_policy=row.missing_tin_policy,
            request_at=MoneyOut.of(row.request_at_minor, "USD"),
            program_income=dict(row.program_income or {}),
            income_code_1042s=row.income_code_1042s,
            chapter3_status_1042s=row.chapter3_status_1042s,
        )


class ThresholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: MoneyIn = Field(
        description="In USD", examples=[{"amount": "2100.00", "currency": "USD"}]
    )


class ThresholdOut(BaseModel):
    tax_year: int
    amount: MoneyOut
    source: Literal["law", "organization"] = Field(
        description="`law`: the default ($600 through 2025, $2,000 from 2026)"
    )

    @classmethod
    def of(cls, t: Threshold) -> ThresholdOut:
        return cls(
            tax_year=t.tax_year,
            amount=MoneyOut.of(t.amount_minor, "USD"),
            source="organization" if t.source == "organization" else "law",
        )


class ProfileIn(BaseModel):
    """A W-9 or W-8BEN received another way (on paper), entered by finance."""

    model_config = ConfigDict(extra="forbid")

    form: Literal["W-9", "W-8BEN"]
    name_type: Literal["I", "B"] | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    suffix: str | None = None
    business_name: str | None = None
    tin_type: Literal["SSN", "ITIN", "EIN"] | None = None
    tin: str | None = Field(default=None, examples=["123-45-6789"])
    address: str | None = None
    address_2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    citizenship: str | None = None
    foreign_tin: str | None = None
    us_tin: str | None = None
    us_tin_type: Literal["SSN", "ITIN"] | None = None
    birth_date: str | None = Field(default=None, examples=["1990-04-01"])
    signed_name: str | None = None
    certify: bool = False


class ProfileOut(BaseModel):
    learner_id: uuid.UUID
    form: str
    name_type: str
    name: str
    tin_type: str | None
    tin: str | None = Field(description="Masked (***-**-1234) unless `reveal=true`")
    address: str
    city: str
    state: str | None
    postal_code: str | None
    country: str
    second_tin_notice: bool
    received_at: datetime
    revealed: bool

    @classmethod
    def of(cls, v: ProfileView) -> ProfileOut:
        return cls(
            learner_id=v.learner_id,
            form=v.form,
            name_type=v.name_type,
            name=v.name,
            tin_type=v.tin_type,
            tin=v.tin,
            address=v.address,
            city=v.city,
            state=v.state,
            postal_code=v.postal_code,
            country=v.country,
            second_tin_notice=v.second_tin_notice,
            received_at=v.received_at,
            revealed=v.revealed,
        )


class SecondTinNoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notified: bool = Field(
        description="true: the IRS notified a wrong name/TIN a second time in three years"
    )


class FormRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form: Literal["W-9", "W-8BEN"] | None = Field(
        default=None, description="Default: what the learner's treatment needs"
    )


class FormRequestOut(BaseModel):
    id: uuid.UUID
    learner_id: uuid.UUID
    form: str
    status: str
    reason: str
    locale: str
    recipient_email: str | None
    expires_at: datetime
    link: str | None = Field(
        default=None, description="The secure page; shown once, when the request is made"
    )

    @classmethod
    def of(cls, r: TaxFormRequest, link: str | None = None) -> FormRequestOut:
        return cls(
            id=r.id,
            learner_id=r.learner_id,
            form=r.form,
            status=r.status,
            reason=r.reason,
            locale=r.locale,
            recipient_email=sealing.value_of(r, sealing.TAX_RECIPIENT),
            expires_at=r.expires_at,
            link=link,
        )


class TaxRecordOut(BaseModel):
    reward_id: uuid.UUID | None
    learner_id: uuid.UUID
    classification: str
    treatment: str
    form_type: str
    box: str
    amount: MoneyOut
    usd: MoneyOut
    rate: str
    rate_date: date | None
    paid_on: date
    tax_year: int
    status: Literal["gated", "delivered"]
    backup_withholding: bool
    withholding: MoneyOut
    reports_1042s: bool

    @classmethod
    def of(cls, r: TaxRecord) -> TaxRecordOut:
        return cls(
            reward_id=r.reward_id,
            learner_id=r.learner_id,
            classification=r.classification,
            treatment=r.treatment,
            form_type=r.form_type,
            box=r.box,
            amount=MoneyOut.of(r.amount_minor, r.currency),
            usd=MoneyOut.of(r.usd_minor, "USD"),
            rate=r.rate,
            rate_date=r.rate_date,
            paid_on=r.paid_on,
            tax_year=r.tax_year,
            status="delivered" if r.status == "delivered" else "gated",
            backup_withholding=r.backup_withholding,
            withholding=MoneyOut.of(r.withholding_minor, "USD"),
            reports_1042s=r.reports_1042s,
        )


class YearTotalOut(BaseModel):
    learner_id: uuid.UUID
    form_type: str
    box: str
    total: MoneyOut
    withholding: MoneyOut
    payments: int
    reportable: bool = Field(description="At or over the year's threshold, or anything withheld")

    @classmethod
    def of(cls, t: YearTotal, threshold_minor: int) -> YearTotalOut:
        return cls(
            learner_id=t.learner_id,
            form_type=t.form_type,
            box=t.box,
            total=MoneyOut.of(t.usd_minor, "USD"),
            withholding=MoneyOut.of(t.withholding_minor, "USD"),
            payments=t.payments,
            reportable=t.form_type != "W-2"
            and (t.usd_minor >= threshold_minor or t.withholding_minor > 0),
        )


class TotalsOut(BaseModel):
    tax_year: int
    threshold: ThresholdOut
    data: list[YearTotalOut]
