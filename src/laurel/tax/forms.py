"""W-9 and W-8BEN: validation (messages as gettext msgids, so the page speaks the learner's
language), storage with the TIN sealed, masked views (each one audited), and the release of
rewards held for the form.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Invalid, NotFound
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_ignore, read_rows
from laurel.learners import service as learners
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState
from laurel.tax import requests, tins
from laurel.tax.models import TaxForm, TaxProfile
from laurel.tax.payer import US_STATES
from laurel.tax.treatment import US_COUNTRIES

TAX_FORM_REQUIRED = "tax_form_required"
_ZIP = re.compile(r"^\d{5}(-?\d{4})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")

REQUIRED = "This field is required."


class ProfileNotFound(NotFound):
    code = "tax_profile_not_found"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str
    """A gettext msgid with ``%(name)s`` placeholders."""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def english(self) -> str:
        return self.message % self.params if self.params else self.message


@dataclass(slots=True)
class Facts:
    """A learner's form on file, as the gate needs it."""

    form: str
    has_tin: bool
    second_tin_notice: bool


@cache
def _facts_sql() -> Any:
    # Built once with parameters: the tax gate asks this for every group of single events, and
    # building the statement each time cost more than running it.
    table: Table = TaxProfile.__table__  # type: ignore[assignment]
    return select(
        table.c.learner_id, table.c.form, table.c.tin_sealed, table.c.second_tin_notice
    ).where(
        table.c.organization_id == bindparam("_org"),
        table.c.livemode == bindparam("_live"),
        table.c.learner_id.in_(bindparam("_ids", expanding=True)),
    )


def facts_for(
    session: Session, organization_id: uuid.UUID, livemode: bool, learner_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Facts]:
    found: dict[uuid.UUID, Facts] = {}
    for part in chunks(sorted(set(learner_ids))):
        params = {"_org": organization_id, "_live": livemode, "_ids": part}
        for learner_id, form, sealed, second in read_rows(session, _facts_sql(), params):
            # IRC §3406(h)(2): after a second notice the TIN counts as missing.
            found[learner_id] = Facts(form, sealed is not None and not second, bool(second))
    return found


def _text(data: Mapping[str, Any], name: str, limit: int = 80) -> str:
    value = data.get(name)
    return str(value).strip()[:limit] if value is not None else ""


class _Reader:
    """Reads a submission's fields, noting each problem."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[Problem] = []

    def text(self, name: str, limit: int = 80) -> str:
        return _text(self.data, name, limit)

    def need(self, name: str, limit: int = 80) -> str:
        text = self.text(name, limit)
        if not text:
            self.problems.append(Problem(name, REQUIRED))
        return text

    def fail(self, name: str, message: str, params: dict[str, Any] | None = None) -> None:
        self.problems.append(Problem(name, message, params or {}))

    def tin(self, name: str, value: str, tin_type: str) -> tins.Tin | None:
        try:
            return tins.parse(value, tin_type)
        except tins.TinError as exc:
            self.fail(name, exc.message, exc.params)
            return None


def _w9(read: _Reader, values: dict[str, Any]) -> None:
    name_type = read.text("name_type", 1) or "I"
    if name_type not in ("I", "B"):
        read.fail("name_type", "Choose an individual or a business.")
    values["name_type"] = name_type
    if name_type == "B":
        values["business_name"] = read.need("business_name")
    else:
        values["first_name"] = read.need("first_name")
        values["last_name"] = read.need("last_name")
        values["middle_name"] = read.text("middle_name") or None
        values["suffix"] = read.text("suffix", 10) or None
    tin_type = read.text("tin_type", 4) or ("EIN" if name_type == "B" else "SSN")
    tin = read.tin("tin", read.text("tin", 20), tin_type)
    if tin is not None:
        values["tin"] = tin
    values["address"] = read.need("address")
    values["address_2"] = read.text("address_2") or None
    values["city"] = read.need("city")
    state = read.need("state", 2).upper()
    if state and state not in US_STATES:
        read.fail("state", "Use a two-letter US state code, such as NY.")
    values["state"] = state
    postal = read.need("postal_code", 10)
    if postal and not _ZIP.match(postal):
        read.fail("postal_code", "A ZIP code has 5 digits, or 9 (12345-6789).")
    values["postal_code"] = postal.replace("-", "")
    values["country"] = "US"


def _w8ben(read: _Reader, values: dict[str, Any]) -> None:
    values["name_type"] = "I"
    values["first_name"] = read.need("first_name")
    values["last_name"] = read.need("last_name")
    country = read.need("country", 2).upper()
    if country and not _COUNTRY.match(country):
        read.fail("country", "Use a two-letter country code, such as DE.")
    elif country in US_COUNTRIES:
        read.fail(
            "country",
            "A W-8BEN is for persons outside the United States; US persons fill in a W-9.",
        )
    values["country"] = country
    citizenship = read.text("citizenship", 2).upper() or country
    if citizenship and not _COUNTRY.match(citizenship):
        read.fail("citizenship", "Use a two-letter country code, such as DE.")
    values["citizenship"] = citizenship or None
    values["address"] = read.need("address")
    values["city"] = read.need("city")
    values["state"] = read.text("state", 40) or None
    values["postal_code"] = read.text("postal_code", 16) or None
    values["foreign_tin"] = read.text("foreign_tin", 40) or None
    us_tin = read.text("us_tin", 20)
    if us_tin:
        tin = read.tin("us_tin", us_tin, read.text("us_tin_type", 4) or "ITIN")
        if tin is not None:
            values["tin"] = tin
    born = read.need("birth_date", 10)
    if born:
        try:
            values["birth_date"] = date.fromisoformat(born)
        except ValueError:
            read.fail("birth_date", "Enter the date as YYYY-MM-DD.")


def validate(form: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The profile's values from a submission, and every problem found (all fields checked)."""
    read = _Reader(data)
    values: dict[str, Any] = {"form": form}
    if form == TaxForm.w9:
        _w9(read, values)
    elif form == TaxForm.w8ben:
        _w8ben(read, values)
    else:
        read.fail("form", "The form must be W-9 or W-8BEN.")
    values["signed_name"] = read.need("signed_name", 160)
    if str(data.get("certify", "")).lower() not in ("on", "true", "1", "yes"):
        read.fail("certify", "You must certify that the information is correct.")
    return values, read.problems


def _store(
    session: Session,
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    learner_id: uuid.UUID,
    values: dict[str, Any],
    via: str,
) -> TaxProfile:
    tin: tins.Tin | None = values.pop("tin", None)
    foreign_tin = values.pop("foreign_tin", None)
    row = {
        "name_type": "I",
        "first_name": None,
        "middle_name": None,
        "last_name": None,
        "suffix": None,
        "business_name": None,
        "address_2": None,
        "state": None,
        "postal_code": None,
        "citizenship": None,
        "birth_date": None,
        **values,
        "tin_type": tin.type.value if tin else None,
        "tin_sealed": tins.seal(tin.digits) if tin else None,
        "tin_last4": tin.last4 if tin else None,
        "foreign_tin_sealed": tins.seal(foreign_tin) if foreign_tin else None,
        "second_tin_notice": False,
        "received_at": utcnow(),
        "received_via": via,
    }
    inserted = insert_ignore(
        session,
        TaxProfile.__table__,  # type: ignore[arg-type]
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "livemode": livemode,
            "learner_id": learner_id,
            "created_at": utcnow(),
            **row,
        },
        ["organization_id", "livemode", "learner_id"],
    )
    profile = session.scalar(
        select(TaxProfile)
        .where(
            TaxProfile.organization_id == organization_id,
            TaxProfile.livemode == livemode,
            TaxProfile.learner_id == learner_id,
        )
        .with_for_update()
    )
    assert profile is not None
    if not inserted:
        # A new form replaces the one on file (a changed address, a corrected TIN).
        for key, value in row.items():
            setattr(profile, key, value)
        session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        actor=via,
        action="tax:profile:received",
        target_type="learner",
        target_id=learner_id,
        details={
            "form": profile.form,
            "tin_type": profile.tin_type,
            "tin": tins.mask(profile.tin_type, profile.tin_last4),
            "replaced": not inserted,
        },
    )
    return profile


def submit(session: Session, token: str, data: Mapping[str, Any]) -> TaxProfile | list[Problem]:
    """A learner's submission through the secure page: the problems, or the stored profile
    (the link is closed and rewards held for the form run their gates again)."""
    request = requests.by_token(session, token, lock=True)
    values, problems = validate(request.form, data)
    if problems:
        return problems
    if not requests.mark_submitted(session, request):
        raise requests.RequestUsed("this link was already used")
    via = f"learner:{request.learner_id}"
    profile = _store(
        session,
        organization_id=request.organization_id,
        livemode=request.livemode,
        learner_id=request.learner_id,
        values=values,
        via=via,
    )
    release_held(session, request.organization_id, request.livemode, request.learner_id, via)
    return profile


def enter(
    session: Session, actor: Actor, learner_id: uuid.UUID, data: Mapping[str, Any]
) -> TaxProfile:
    """Finance enters a form received on paper (API); same checks as the page."""
    learner = learners.get(session, actor, learner_id)
    form = str(data.get("form") or "")
    values, problems = validate(form, data)
    if problems:
        raise Invalid(
            [{"field": p.field, "message": p.english(), "type": "value_error"} for p in problems]
        )
    profile = _store(
        session,
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        learner_id=learner.id,
        values=values,
        via=actor.name,
    )
    requests.cancel_open(session, actor.organization_id, actor.livemode, learner.id)
    release_held(session, actor.organization_id, actor.livemode, learner.id, actor.name)
    return profile


def release_held(
    session: Session, organization_id: uuid.UUID, livemode: bool, learner_id: uuid.UUID, actor: str
) -> int:
    """Run the gates again for the learner's rewards held for a tax form; answers how many."""
    who = Actor(name=actor, organization_id=organization_id, livemode=livemode)
    held: list[Reward] = []
    cursor: uuid.UUID | None = None
    while True:
        page = rewards.list_rewards(
            session, who, limit=500, cursor=cursor, learner_id=learner_id, state=RewardState.held
        )
        held.extend(
            r
            for r in page.items
            if any(h.get("reason") == TAX_FORM_REQUIRED for h in r.hold_reasons)
        )
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    if held:
        rewards.run_gates_many(session, held, actor=actor)
    return len(held)


@dataclass(frozen=True, slots=True)
class ProfileView:
    learner_id: uuid.UUID
    form: str
    name_type: str
    name: str
    tin_type: str | None
    tin: str | None
    """Masked unless revealed."""
    address: str
    city: str
    state: str | None
    postal_code: str | None
    country: str
    second_tin_notice: bool
    received_at: datetime
    revealed: bool


def display_name(profile: TaxProfile) -> str:
    if profile.name_type == "B":
        return profile.business_name or ""
    parts = [profile.first_name, profile.middle_name, profile.last_name, profile.suffix]
    return " ".join(p for p in parts if p)


def mark_second_tin_notice(
    session: Session, actor: Actor, learner_id: uuid.UUID, *, notified: bool
) -> None:
    """Record (or withdraw) the IRS's second notice in three years that the learner's name and
    TIN do not match: the TIN then counts as missing (the gate holds or withholds) until a new
    form is received, and FIRE B-record 544 / IRIS "2nd TIN Notice" are set."""
    profile = session.scalar(
        select(TaxProfile)
        .where(
            TaxProfile.organization_id == actor.organization_id,
            TaxProfile.livemode == actor.livemode,
            TaxProfile.learner_id == learner_id,
        )
        .with_for_update()
    )
    if profile is None:
        raise ProfileNotFound(f"no tax form on file for learner {learner_id}")
    profile.second_tin_notice = notified
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="tax:profile:second_tin_notice",
        target_type="learner",
        target_id=learner_id,
        details={"notified": notified},
    )


def view(session: Session, actor: Actor, learner_id: uuid.UUID, *, reveal: bool) -> ProfileView:
    """A learner's form on file. Every view is audited; ``reveal`` shows the whole TIN."""
    profile = session.scalar(
        select(TaxProfile).where(
            TaxProfile.organization_id == actor.organization_id,
            TaxProfile.livemode == actor.livemode,
            TaxProfile.learner_id == learner_id,
        )
    )
    if profile is None:
        raise ProfileNotFound(f"no tax form on file for learner {learner_id}")
    tin = tins.mask(profile.tin_type, profile.tin_last4)
    if reveal and profile.tin_sealed:
        tin = tins.unseal(profile.tin_sealed)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="tax:profile:reveal" if reveal else "tax:profile:view",
        target_type="learner",
        target_id=learner_id,
        details={"form": profile.form},
    )
    return ProfileView(
        learner_id=learner_id,
        form=profile.form,
        name_type=profile.name_type,
        name=display_name(profile),
        tin_type=profile.tin_type,
        tin=tin,
        address=profile.address,
        city=profile.city,
        state=profile.state,
        postal_code=profile.postal_code,
        country=profile.country,
        second_tin_notice=profile.second_tin_notice,
        received_at=profile.received_at,
        revealed=reveal,
    )


def profiles_for_export(
    session: Session, organization_id: uuid.UUID, learner_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, TaxProfile]:
    """Live profiles of these learners (exports read TINs: the caller audits the export)."""
    found: dict[uuid.UUID, TaxProfile] = {}
    for part in chunks(sorted(set(learner_ids))):
        for row in session.scalars(
            select(TaxProfile).where(
                TaxProfile.organization_id == organization_id,
                TaxProfile.livemode.is_(True),
                TaxProfile.learner_id.in_(part),
            )
        ):
            found[row.learner_id] = row
    return found


def request_manually(
    session: Session, actor: Actor, learner_id: uuid.UUID, form: str | None
) -> requests.Issued:
    """Finance asks a learner for a form (W-9 unless they are a non-US person, or as given);
    an open request is replaced so the learner gets a fresh link."""
    from laurel.tax import treatment  # noqa: PLC0415 - treatment imports nothing of forms

    learner = learners.get(session, actor, learner_id)
    on_file = facts_for(session, actor.organization_id, actor.livemode, [learner.id])
    facts = on_file.get(learner.id)
    if form is None:
        foreign = treatment.is_foreign(learner.country, facts.form if facts else None)
        form = TaxForm.w8ben.value if foreign else TaxForm.w9.value
    requests.cancel_open(session, actor.organization_id, actor.livemode, learner.id)
    issued = requests.issue(
        session,
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        learner_id=learner.id,
        form=form,
        reason="manual",
        locale=learner.locale,
        email=learner.email,
        actor=actor.name,
    )
    assert issued is not None, "the open request was cancelled first"
    return issued
