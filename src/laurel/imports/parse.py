"""One file row → one validated item, or the list of what is wrong with it, column by column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from laurel.events.models import Outcome
from laurel.events.schemas import CompletionIn
from laurel.imports.columns import normalize
from laurel.imports.readers import Cell, Row
from laurel.kit.canonical import sha256_hex
from laurel.kit.money import Money
from laurel.learners.models import Classification
from laurel.roster.models import WorkerStatus

_OUTCOMES: dict[str, Outcome] = {
    **dict.fromkeys(
        ("completed", "complete", "finished", "done", "attended", "yes", "true", "satisfied"),
        Outcome.completed,
    ),
    **dict.fromkeys(("passed", "pass", "successful", "success"), Outcome.passed),
    **dict.fromkeys(("failed", "fail", "notpassed", "unsuccessful"), Outcome.failed),
    **dict.fromkeys(
        ("inprogress", "started", "incomplete", "notcompleted", "attempted"), Outcome.in_progress
    ),
    **dict.fromkeys(("enrolled", "registered", "notstarted", "assigned"), Outcome.enrolled),
}
_CLASSIFICATIONS: dict[str, Classification] = {
    **dict.fromkeys(
        (
            "employee",
            "staff",
            "internal",
            "regular",
            "fulltime",
            "parttime",
            "permanent",
            "fte",
            "regularemployee",
            "salaried",
            "hourly",
            "intern",
        ),
        Classification.employee,
    ),
    **dict.fromkeys(
        (
            "contractor",
            "contingent",
            "contingentworker",
            "consultant",
            "temporary",
            "temp",
            "vendor",
            "freelancer",
            "independentcontractor",
        ),
        Classification.contractor,
    ),
    **dict.fromkeys(
        ("channelpartner", "partner", "reseller", "channel"), Classification.channel_partner
    ),
    **dict.fromkeys(("customer", "external", "client"), Classification.customer),
}
_STATUSES: dict[str, WorkerStatus] = {
    **dict.fromkeys(("active", "a", "yes", "true", "employed", "1"), WorkerStatus.active),
    **dict.fromkeys(
        (
            "terminated",
            "t",
            "inactive",
            "no",
            "false",
            "termed",
            "separated",
            "retired",
            "deceased",
            "0",
            "withdrawn",
        ),
        WorkerStatus.terminated,
    ),
    **dict.fromkeys(
        ("leave", "l", "onleave", "leaveofabsence", "loa", "suspended", "paidleave", "unpaidleave"),
        WorkerStatus.leave,
    ),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
# Where CompletionIn's fields come from, to name the column when pydantic refuses a value.
_SOURCE = {
    ("learner", "external_id"): "learner_id",
    ("learner", "email"): "email",
    ("learner", "name"): "name",
    ("learner", "classification"): "classification",
    ("learner", "department"): "department",
    ("learner", "country"): "country",
    ("course", "external_id"): "course_id",
    ("course", "title"): "course_name",
    ("occurred_at",): "completion_date",
    ("score",): "score",
    ("outcome",): "status",
}


@dataclass(frozen=True, slots=True)
class Options:
    date_format: str | None = None
    """strptime format for dates that are not ISO 8601, e.g. ``%m/%d/%Y``."""
    timezone: str = "UTC"
    """For times written without a zone."""
    score_scale: Decimal = Decimal(100)
    """Scores are out of this much (100: percentages); ``85%`` is always a percentage."""
    currency: str | None = None
    """Currency of the amount column when the file has no currency column."""

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Options:
        return cls(
            date_format=raw.get("date_format"),
            timezone=raw.get("timezone") or "UTC",
            score_scale=Decimal(str(raw.get("score_scale") or 100)),
            currency=raw.get("currency"),
        )

    def zone(self) -> tzinfo:
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)


class RowErrors(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class _Row:
    """Cells by field name, collecting errors with the column each came from."""

    def __init__(self, row: Row, columns: dict[str, int], headers: list[Cell]) -> None:
        self.row = row
        self.columns = columns
        self.headers = headers
        self.errors: list[dict[str, str]] = []

    def column(self, name: str) -> str:
        index = self.columns.get(name)
        if index is None:
            return name
        return self.headers[index] or f"column {index + 1}"

    def get(self, name: str) -> str | None:
        index = self.columns.get(name)
        if index is None or index >= len(self.row.cells):
            return None
        return self.row.cells[index]

    def fail(self, name: str, reason: str) -> None:
        self.errors.append({"column": self.column(name), "field": name, "reason": reason})


def _moment(text: str, options: Options) -> datetime:
    if options.date_format:
        value = datetime.strptime(text, options.date_format)  # noqa: DTZ007 - zone added below
    else:
        value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=options.zone())
    return value.astimezone(UTC)


def _date_reason(options: Options) -> str:
    if options.date_format:
        return f"not a date in the format {options.date_format}"
    return (
        "not an ISO 8601 date or time (2026-11-20 or 2026-11-20T14:30:00Z); for other formats "
        "set options.date_format in the mapping"
    )


def event_id(learner: str, course: str, occurred_at: datetime) -> str:
    """Stable per completion: the same learner, course and completion time give the same id, so
    a re-uploaded or overlapping file replays instead of paying again."""
    key = "\x1f".join((learner, course, occurred_at.astimezone(UTC).isoformat()))
    return f"imp_{sha256_hex(key)[:40]}"


def _when(r: _Row, options: Options) -> datetime | None:
    when = r.get("completion_date")
    if when is None:
        r.fail("completion_date", "empty: a row needs its completion date")
        return None
    try:
        return _moment(when, options)
    except ValueError:
        r.fail("completion_date", f"{when!r} is {_date_reason(options)}")
        return None


def _score(r: _Row, options: Options) -> float | None:
    raw = r.get("score")
    if raw is None:
        return None
    percent = raw.endswith("%")
    try:
        number = Decimal(raw.rstrip("%").strip())
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        r.fail("score", f"{raw!r} is not a number")
        return None
    scale = Decimal(100) if percent else options.score_scale
    if not Decimal(0) <= number <= scale:
        r.fail("score", f"{raw} is outside 0 to {scale}")
        return None
    # A scaled score is a measurement compared with min_score, never money.
    return float(number / scale)


def _outcome(r: _Row) -> Outcome:
    raw = r.get("status")
    if raw is None:
        return Outcome.completed
    found = _OUTCOMES.get(normalize(raw))
    if found is None:
        r.fail(
            "status",
            f"{raw!r} is not a known status (completed, passed, failed, in progress, enrolled)",
        )
        return Outcome.completed
    return found


def _classification(r: _Row) -> Classification | None:
    raw = r.get("classification")
    if raw is None:
        return None
    found = _CLASSIFICATIONS.get(normalize(raw))
    if found is None:
        r.fail(
            "classification",
            f"{raw!r} is not a known classification (employee, contractor, channel partner, "
            "customer)",
        )
    return found


def _country(r: _Row) -> str | None:
    raw = r.get("country")
    if raw is None:
        return None
    if not _COUNTRY.match(raw.upper()):
        r.fail("country", f"{raw!r} is not an ISO 3166-1 alpha-2 code such as US")
        return None
    return raw.upper()


def _amount(r: _Row, options: Options) -> dict[str, str | None] | None:
    """The amount override as written (a non-negative decimal in major units) and its currency
    when the file or the mapping names one. The program currency it must be exact money in is
    known only once the rows meet the programs in force (``imports.service``)."""
    raw = r.get("amount")
    if raw is None:
        return None
    amount = raw.replace(",", "").strip()
    if amount.startswith("-"):
        r.fail("amount", f"{raw!r} is negative: an amount override must be zero or more")
        return None
    if not _DECIMAL.match(amount):
        r.fail("amount", f'{raw!r} is not a decimal amount such as "25.00"')
        return None
    code = (r.get("currency") or options.currency or "").upper() or None
    if code is not None:
        try:
            Money.parse(amount, code)
        except ValueError as exc:
            r.fail("amount", str(exc))
            return None
    return {"amount": amount, "currency": code}


@dataclass(frozen=True, slots=True)
class CompletionRow:
    item: CompletionIn
    payload: dict[str, Any]
    override: dict[str, str | None] | None = None
    """The amount override column as parsed: ``{"amount": "25.00", "currency": "USD" | None}``."""


def completion(
    row: Row, columns: dict[str, int], headers: list[Cell], options: Options
) -> CompletionRow:
    """Raises RowErrors naming every bad column of the row."""
    r = _Row(row, columns, headers)
    email = r.get("email")
    if email is not None and (not _EMAIL.match(email) or len(email) > 320):
        r.fail("email", f"{email!r} is not an email address")
        email = None
    learner_id = r.get("learner_id") or (email.lower() if email else None)
    if learner_id is None:
        r.fail(
            "learner_id" if "learner_id" in columns else "email",
            "empty: a row needs a learner id or an email",
        )
    course_id = r.get("course_id")
    if course_id is None:
        r.fail("course_id", "empty: a row needs a course id")
    name = r.get("name")
    if name is None and (r.get("first_name") or r.get("last_name")):
        name = " ".join(p for p in (r.get("first_name"), r.get("last_name")) if p)
    occurred_at = _when(r, options)
    score = _score(r, options)
    outcome = _outcome(r)
    classification = _classification(r)
    country = _country(r)
    override = _amount(r, options)
    if r.errors:
        raise RowErrors(r.errors)
    assert learner_id is not None
    assert course_id is not None
    assert occurred_at is not None
    learner: dict[str, Any] = {"external_id": learner_id}
    for key, value in (
        ("email", email),
        ("name", name),
        ("classification", classification),
        ("department", r.get("department")),
        ("country", country),
    ):
        if value is not None:
            learner[key] = value
    course: dict[str, Any] = {"external_id": course_id}
    if r.get("course_name") is not None:
        course["title"] = r.get("course_name")
    body: dict[str, Any] = {
        "event_id": event_id(learner_id, course_id, occurred_at),
        "occurred_at": occurred_at,
        "outcome": outcome,
        "learner": learner,
        "course": course,
    }
    if score is not None:
        body["score"] = score
    try:
        item = CompletionIn.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            source = _SOURCE.get(loc[:2]) or _SOURCE.get(loc[:1]) or loc[0]
            message = str(err["msg"]).removeprefix("Value error, ")
            r.fail(source, message)
        raise RowErrors(r.errors) from None
    payload: dict[str, Any] = {
        "line": row.line,
        "row": {
            r.headers[i] or f"column {i + 1}": c
            for i, c in enumerate(row.cells)
            if i < len(r.headers) and c is not None
        },
    }
    return CompletionRow(item, payload, override)


@dataclass(frozen=True, slots=True)
class RosterRow:
    employee_id: str
    email: str | None
    status: WorkerStatus
    department: str | None
    manager: str | None
    classification: Classification | None
    country: str | None
    hire_date: date | None
    line: int


def _text(r: _Row, name: str, limit: int = 200) -> str | None:
    value = r.get(name)
    if value is not None and len(value) > limit:
        r.fail(name, f"longer than {limit} characters")
        return None
    return value


def roster(row: Row, columns: dict[str, int], headers: list[Cell], options: Options) -> RosterRow:
    r = _Row(row, columns, headers)
    employee_id = _text(r, "employee_id")
    if employee_id is None and not r.errors:
        r.fail("employee_id", "empty: a roster row needs an employee id")
    email = r.get("email")
    if email is not None:
        email = email.lower()
        if not _EMAIL.match(email) or len(email) > 320:
            r.fail("email", f"{r.get('email')!r} is not an email address")
    status: WorkerStatus | None = None
    raw_status = r.get("status")
    if raw_status is None:
        r.fail("status", "empty: expected active, terminated or leave")
    else:
        status = _STATUSES.get(normalize(raw_status))
        if status is None:
            r.fail("status", f"{raw_status!r} is not a known status (active, terminated, leave)")
    classification = _classification(r)
    country = _country(r)
    hire_date: date | None = None
    raw_hire = r.get("hire_date")
    if raw_hire is not None:
        try:
            hire_date = (
                datetime.strptime(raw_hire, options.date_format).date()  # noqa: DTZ007 - a date
                if options.date_format
                else date.fromisoformat(raw_hire[:10])
            )
        except ValueError:
            r.fail("hire_date", f"{raw_hire!r} is {_date_reason(options)}")
    department = _text(r, "department")
    manager = _text(r, "manager")
    if r.errors:
        raise RowErrors(r.errors)
    assert employee_id is not None
    assert status is not None
    return RosterRow(
        employee_id,
        email,
        status,
        department,
        manager,
        classification,
        country,
        hire_date,
        row.line,
    )
