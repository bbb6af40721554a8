"""Storage for tax: the payer's settings, thresholds per year, learners' forms, form requests
and one tax record per payment (a reward, or a points redemption).

Amounts in USD are integer cents; a record also keeps the amount as paid (minor units of its
own currency) and the rate that turned one into the other.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class FormType(StrEnum):
    """What a payment is reported on."""

    w2 = "W-2"
    """Wages: the payroll export, not a 1099."""
    nec = "1099-NEC"
    misc = "1099-MISC"
    s1042 = "1042-S"
    """Non-US person: flagged for 1042-S reporting (W-8BEN on file)."""


class Treatment(StrEnum):
    wages = "wages"
    """An employee's reward, taxed as wages through payroll."""
    employee_prize = "employee_prize"
    """An employee's reward reported as a prize (organization policy): 1099-MISC box 3."""
    nonemployee_compensation = "nonemployee_compensation"
    """Contractors and channel partners, or any program that pays for services: 1099-NEC."""
    prize = "prize"
    """Customers' prizes and awards not for services: 1099-MISC box 3."""
    foreign_person = "foreign_person"
    """Non-US person: W-8BEN, 1042-S reporting."""


class TaxForm(StrEnum):
    w9 = "W-9"
    w8ben = "W-8BEN"


class RecordStatus(StrEnum):
    gated = "gated"
    """The tax gate passed the reward; the USD amount is an estimate until delivery."""
    delivered = "delivered"
    """Paid: the amount in USD is fixed at the rate of the payment date."""


class RequestStatus(StrEnum):
    open = "open"
    submitted = "submitted"
    cancelled = "cancelled"


class TaxSettings(TenantMixin, Base):
    """The organization as payer (for the IRS files) and its tax policies. One per org."""

    __tablename__ = "tax_settings"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), unique=True
    )
    payer_name: Mapped[str | None] = mapped_column(String(80), default=None)
    payer_name_2: Mapped[str | None] = mapped_column(String(80), default=None)
    payer_tin_sealed: Mapped[str | None] = mapped_column(String(400), default=None)
    """The payer's EIN, Fernet-encrypted (tax.tins)."""
    payer_tin_last4: Mapped[str | None] = mapped_column(String(4), default=None)
    payer_address: Mapped[str | None] = mapped_column(String(80), default=None)
    payer_city: Mapped[str | None] = mapped_column(String(80), default=None)
    payer_state: Mapped[str | None] = mapped_column(String(2), default=None)
    payer_zip: Mapped[str | None] = mapped_column(String(10), default=None)
    payer_phone: Mapped[str | None] = mapped_column(String(20), default=None)
    payer_email: Mapped[str | None] = mapped_column(String(120), default=None)
    contact_name: Mapped[str | None] = mapped_column(String(80), default=None)
    fire_tcc: Mapped[str | None] = mapped_column(String(5), default=None)
    """Transmitter Control Code for FIRE (5 characters)."""
    vendor_indicator: Mapped[str] = mapped_column(String(1), default="I")
    """Pub 1220 T-record 518: ``I`` software written in-house, ``V`` bought from a vendor."""
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    """IANA zone whose calendar dates payments: the tax year is the year of the payment date
    in this zone (the payer's)."""
    employee_treatment: Mapped[str] = mapped_column(String(16), default="wages")
    """``wages`` (payroll export) or ``prize`` (1099-MISC box 3)."""
    missing_tin_policy: Mapped[str] = mapped_column(String(24), default="hold")
    """``hold`` (``tax_form_required``) or ``backup_withholding`` (paid, 24 % flagged)."""
    request_at_minor: Mapped[int] = mapped_column(default=50_000)
    """USD cents: a form request goes out when a learner's year total reaches this."""
    program_income: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Per program id: ``services`` (1099-NEC) or ``prize`` (1099-MISC box 3) for every
    non-employee, overriding the classification's default."""
    income_code_1042s: Mapped[str] = mapped_column(String(2), default="23", server_default="23")
    """Form 1042-S income code written on the 1042-S export (default ``23``, other income)."""
    chapter3_status_1042s: Mapped[str] = mapped_column(String(2), default="16", server_default="16")
    """Form 1042-S recipient chapter 3 status code on the export (default ``16``,
    individual)."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaxThreshold(TenantMixin, Base):
    """An organization's own reporting threshold for a tax year (the defaults are the law's
    and live in code: tax.thresholds)."""

    __tablename__ = "tax_thresholds"
    __table_args__ = (UniqueConstraint("organization_id", "tax_year"),)

    tax_year: Mapped[int]
    amount_minor: Mapped[int]
    """USD cents."""
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaxProfile(TenantMixin, Base):
    """A learner's tax form on file (the latest one received): W-9 or W-8BEN."""

    __tablename__ = "tax_profiles"
    __table_args__ = (UniqueConstraint("organization_id", "livemode", "learner_id"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    form: Mapped[str] = mapped_column(String(8))
    name_type: Mapped[str] = mapped_column(String(1), default="I")
    """``I`` individual, ``B`` business (IRIS wants structured names)."""
    first_name: Mapped[str | None] = mapped_column(String(80), default=None)
    middle_name: Mapped[str | None] = mapped_column(String(80), default=None)
    last_name: Mapped[str | None] = mapped_column(String(80), default=None)
    suffix: Mapped[str | None] = mapped_column(String(10), default=None)
    business_name: Mapped[str | None] = mapped_column(String(80), default=None)
    tin_type: Mapped[str | None] = mapped_column(String(4), default=None)
    """``SSN``, ``ITIN`` or ``EIN`` (W-9); None on a W-8BEN without a US TIN."""
    tin_sealed: Mapped[str | None] = mapped_column(String(400), default=None)
    tin_last4: Mapped[str | None] = mapped_column(String(4), default=None)
    foreign_tin_sealed: Mapped[str | None] = mapped_column(String(400), default=None)
    address: Mapped[str] = mapped_column(String(80))
    address_2: Mapped[str | None] = mapped_column(String(80), default=None)
    city: Mapped[str] = mapped_column(String(80))
    state: Mapped[str | None] = mapped_column(String(40), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(16), default=None)
    country: Mapped[str] = mapped_column(String(2), default="US")
    citizenship: Mapped[str | None] = mapped_column(String(2), default=None)
    """W-8BEN: country of citizenship."""
    birth_date: Mapped[date | None] = mapped_column(default=None)
    second_tin_notice: Mapped[bool] = mapped_column(default=False)
    """The IRS said twice in three years that the name/TIN is wrong (B-record 544)."""
    signed_name: Mapped[str] = mapped_column(String(160))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_via: Mapped[str] = mapped_column(String(200))


class TaxFormRequest(TenantMixin, Base):
    """A link sent to a learner to collect a form. Only the token's SHA-256 is stored; at most
    one request per learner is open (``open_slot`` is ``open`` while open, the id after)."""

    __tablename__ = "tax_form_requests"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "learner_id", "open_slot"),
        Index(None, "organization_id", "status"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    form: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.open)
    open_slot: Mapped[str] = mapped_column(String(40), default="open")
    reason: Mapped[str] = mapped_column(String(32))
    """``threshold`` (the year total reached the request amount), ``first_reward``
    (contractor or partner without a W-9) or ``manual``."""
    locale: Mapped[str] = mapped_column(String(35), default="en")
    recipient_email: Mapped[str | None] = mapped_column(String(320), default=None)
    """Empty: the address is in ``recipient_email_sealed`` (read it with
    :func:`laurel.tax.requests.recipient_of`)."""
    recipient_email_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The address the link was sent to, sealed under the learner's key."""
    expires_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaxRecord(TenantMixin, Base):
    """How one payment is treated for tax. One row per source (a reward; a points redemption).

    Written by the tax gate (``gated``: treatment decided, USD estimated at the rate of the
    gate's day) and fixed at delivery (``delivered``: payment date in the payer's zone, tax
    year, USD at the rate of that date). Year totals count delivered records.
    """

    __tablename__ = "tax_records"
    __table_args__ = (
        UniqueConstraint("organization_id", "source", "source_id"),
        Index(None, "organization_id", "livemode", "tax_year", "learner_id"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(16))
    """``reward`` or ``points``."""
    source_id: Mapped[str] = mapped_column(String(64))
    reward_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rewards.id"), default=None)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    program_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    classification: Mapped[str] = mapped_column(String(32))
    treatment: Mapped[str] = mapped_column(String(32))
    form_type: Mapped[str] = mapped_column(String(16))
    box: Mapped[str] = mapped_column(String(8))
    """Form box: ``1`` (NEC), ``3`` (MISC other income), ``wages``, ``1042-S``."""
    amount_minor: Mapped[int]
    """Amount paid, in minor units of ``currency``."""
    currency: Mapped[str] = mapped_column(String(3))
    usd_minor: Mapped[int]
    """USD cents at ``rate`` (of ``rate_date``)."""
    rate: Mapped[str] = mapped_column(String(32))
    """USD per unit of ``currency``, as a decimal string."""
    rate_date: Mapped[date | None] = mapped_column(default=None)
    paid_on: Mapped[date]
    """The payment date in the payer's zone (at gate time: the gate's day, an estimate)."""
    tax_year: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=RecordStatus.gated)
    backup_withholding: Mapped[bool] = mapped_column(default=False)
    withholding_minor: Mapped[int] = mapped_column(default=0)
    """USD cents to withhold (24 % of ``usd_minor``) when ``backup_withholding``."""
    reports_1042s: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
