"""The organization's tax settings: who the payer is (for the IRS files) and its policies.

Read by the gate on every batch (one row per organization); changed through the API, audited
(the payer TIN never appears in the audit details, only that it changed).
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Invalid
from laurel.kit.sql import insert_ignore
from laurel.organizations import revision
from laurel.tax import tins
from laurel.tax.models import TaxSettings

US_STATES = frozenset(
    {
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
        "UM",
        "AA",
        "AE",
        "AP",
        "FM",
        "MH",
        "PW",
    }
)
_ZIP = re.compile(r"^\d{5}(-?\d{4})?$")
_TCC = re.compile(r"^[A-Z0-9]{5}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

EMPLOYEE_TREATMENTS = ("wages", "prize")
DEFAULT_INCOME_CODE = "23"
"""Form 1042-S income code on the export unless the organization sets another: 23, other
income (the organization's tax adviser decides; docs/tax.md)."""
DEFAULT_CHAPTER3_STATUS = "16"
"""Form 1042-S recipient chapter 3 status code unless set: 16, individual."""
_CODE = re.compile(r"^\d{2}$")
MISSING_TIN_POLICIES = ("hold", "backup_withholding")
PROGRAM_INCOME = ("services", "prize")


@dataclass(frozen=True, slots=True)
class Policy:
    """What the gate needs from the settings, as plain values."""

    timezone: zoneinfo.ZoneInfo
    employee_treatment: str
    missing_tin_policy: str
    request_at_minor: int
    program_income: Mapping[str, str]


DEFAULT = TaxSettings(
    vendor_indicator="I",
    timezone="UTC",
    employee_treatment="wages",
    missing_tin_policy="hold",
    request_at_minor=50_000,
    program_income={},
    income_code_1042s=DEFAULT_INCOME_CODE,
    chapter3_status_1042s=DEFAULT_CHAPTER3_STATUS,
)


def get(session: Session, organization_id: uuid.UUID) -> TaxSettings | None:
    return session.scalar(select(TaxSettings).where(TaxSettings.organization_id == organization_id))


def policy(session: Session, organization_id: uuid.UUID) -> Policy:
    """The organization's tax policy; read once per configuration change (the gate asks for
    it with every group of events)."""

    def build() -> Policy:
        row = get(session, organization_id) or DEFAULT
        return Policy(
            timezone=zoneinfo.ZoneInfo(row.timezone or "UTC"),
            employee_treatment=row.employee_treatment or "wages",
            missing_tin_policy=row.missing_tin_policy or "hold",
            request_at_minor=row.request_at_minor if row.request_at_minor is not None else 50_000,
            program_income=MappingProxyType(dict(row.program_income or {})),
        )

    return revision.shared(session, organization_id, "tax.policy", build)


def _problems(changes: dict[str, Any]) -> list[dict[str, str]]:
    bad: list[dict[str, str]] = []

    def fail(field: str, message: str) -> None:
        bad.append({"field": field, "message": message, "type": "value_error"})

    if "payer_tin" in changes and changes["payer_tin"] is not None:
        try:
            tins.parse(changes["payer_tin"], "EIN")
        except tins.TinError as exc:
            fail("payer_tin", str(exc))
    state = changes.get("payer_state")
    if state is not None and state not in US_STATES:
        fail("payer_state", f"{state!r} is not a USPS state or territory code (e.g. NY)")
    zip_code = changes.get("payer_zip")
    if zip_code is not None and not _ZIP.match(zip_code):
        fail("payer_zip", "a ZIP code has 5 digits, or 9 (12345-6789)")
    phone = changes.get("payer_phone")
    if phone is not None and not 10 <= len(re.sub(r"\D", "", phone)) <= 15:
        fail("payer_phone", "a phone number has 10 to 15 digits (extension included)")
    email = changes.get("payer_email")
    if email is not None and not _EMAIL.match(email):
        fail("payer_email", "not an email address")
    tcc = changes.get("fire_tcc")
    if tcc is not None and not _TCC.match(tcc):
        fail("fire_tcc", "a Transmitter Control Code is 5 letters or digits")
    vendor = changes.get("vendor_indicator")
    if vendor is not None and vendor not in ("I", "V"):
        fail("vendor_indicator", "I (written in-house) or V (bought from a vendor)")
    zone = changes.get("timezone")
    if zone is not None:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            fail("timezone", f"{zone!r} is not an IANA time zone (e.g. America/New_York)")
    if changes.get("employee_treatment") not in (None, *EMPLOYEE_TREATMENTS):
        fail("employee_treatment", "wages or prize")
    if changes.get("missing_tin_policy") not in (None, *MISSING_TIN_POLICIES):
        fail("missing_tin_policy", "hold or backup_withholding")
    request_at = changes.get("request_at_minor")
    if request_at is not None and request_at < 0:
        fail("request_at", "must not be negative")
    for name in ("income_code_1042s", "chapter3_status_1042s"):
        code = changes.get(name)
        if code is not None and not _CODE.match(code):
            fail(name, "a Form 1042-S code is two digits (e.g. 23)")
    for program, kind in (changes.get("program_income") or {}).items():
        try:
            uuid.UUID(str(program))
        except ValueError:
            fail(f"program_income.{program}", "keys are program ids")
        if kind not in PROGRAM_INCOME:
            fail(f"program_income.{program}", "services (1099-NEC) or prize (1099-MISC box 3)")
    return bad


def update(session: Session, actor: Actor, changes: dict[str, Any]) -> TaxSettings:
    """Apply the given fields (None clears a payer field); every bad field is named."""
    bad = _problems(changes)
    if bad:
        raise Invalid(bad)
    now = utcnow()
    insert_ignore(
        session,
        TaxSettings.__table__,  # type: ignore[arg-type]
        {
            "id": uuid.uuid4(),
            "organization_id": actor.organization_id,
            "vendor_indicator": "I",
            "timezone": "UTC",
            "employee_treatment": "wages",
            "missing_tin_policy": "hold",
            "request_at_minor": 50_000,
            "program_income": {},
            "income_code_1042s": DEFAULT_INCOME_CODE,
            "chapter3_status_1042s": DEFAULT_CHAPTER3_STATUS,
            "created_at": now,
            "updated_at": now,
        },
        ["organization_id"],
    )
    row = session.scalar(
        select(TaxSettings)
        .where(TaxSettings.organization_id == actor.organization_id)
        .with_for_update()
    )
    assert row is not None
    changed = []
    for name, value in changes.items():
        if name == "payer_tin":
            tin = tins.parse(value, "EIN") if value is not None else None
            row.payer_tin_sealed = tins.seal(tin.digits) if tin else None
            row.payer_tin_last4 = tin.last4 if tin else None
        elif name == "payer_state" and value is not None:
            row.payer_state = value
        elif name == "payer_zip" and value is not None:
            row.payer_zip = value.replace("-", "")
        else:
            setattr(row, name, value)
        changed.append(name)
    row.updated_at = now
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="tax:settings:update",
        target_type="tax_settings",
        target_id=row.id,
        details={"changed": sorted(changed)},
    )
    return row


@dataclass(frozen=True, slots=True)
class Payer:
    """The payer as the IRS files need it, every required field present and valid."""

    name: str
    name_2: str
    tin: str
    address: str
    city: str
    state: str
    zip: str
    phone: str
    email: str
    contact_name: str
    tcc: str
    vendor_indicator: str


def require_payer(session: Session, organization_id: uuid.UUID, *, fire: bool = False) -> Payer:
    """The payer for an export, or Invalid naming every missing or bad setting."""
    row = get(session, organization_id) or DEFAULT
    bad: list[dict[str, str]] = []

    def need(field: str, value: str | None, why: str = "is required for IRS files") -> str:
        if not value or not value.strip():
            bad.append({"field": field, "message": why, "type": "missing"})
            return ""
        return value.strip()

    name = need("payer_name", row.payer_name)
    tin = ""
    if not row.payer_tin_sealed:
        need("payer_tin", None, "the payer's EIN is required for IRS files")
    else:
        tin = tins.unseal(row.payer_tin_sealed) or ""
        if not tin:
            bad.append(
                {
                    "field": "payer_tin",
                    "message": "was sealed under another LAUREL_SECRET_KEY: enter it again",
                    "type": "value_error",
                }
            )
    address = need("payer_address", row.payer_address)
    city = need("payer_city", row.payer_city)
    state = need("payer_state", row.payer_state)
    zip_code = need("payer_zip", row.payer_zip)
    phone = re.sub(r"\D", "", row.payer_phone or "")
    contact = row.contact_name or ""
    tcc = row.fire_tcc or ""
    if fire:
        need("fire_tcc", row.fire_tcc, "FIRE files need the Transmitter Control Code")
        need("contact_name", row.contact_name, "FIRE files name a contact person")
        if not phone:
            need("payer_phone", None, "FIRE files give the contact's telephone")
    if bad:
        raise Invalid(bad)
    return Payer(
        name=name,
        name_2=row.payer_name_2 or "",
        tin=tin,
        address=address,
        city=city,
        state=state,
        zip=zip_code,
        phone=phone,
        email=row.payer_email or "",
        contact_name=contact,
        tcc=tcc,
        vendor_indicator=row.vendor_indicator or "I",
    )
