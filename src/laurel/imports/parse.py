"""One file row → one validated item, or the list of what is wrong with it, column by column."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from laurel.events.models import PAYABLE_OUTCOMES, Outcome
from laurel.events.schemas import CompletionIn
from laurel.imports.columns import normalize
from laurel.imports.readers import Cell, Row
from laurel.kit.canonical import sha256_hex
from laurel.kit.clock import OutOfRange, as_utc, utcnow
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
            "retiree",
            "deceased",
            "0",
            "withdrawn",
        ),
        WorkerStatus.terminated,
    ),
    **dict.fromkeys(
        (
            "leave",
            "l",
            "onleave",
            "leaveofabsence",
            "loa",
            "suspended",
            "paidleave",
            "unpaidleave",
            "activeonleave",
            # Hired, not started yet: not active, and (unlike terminated) expected to become
            # active; held like a worker on leave until a roster says active.
            "prehire",
            "prehired",
        ),
        WorkerStatus.leave,
    ),
}
# Workday writes the kind of termination after the word: "Terminated - Voluntary".
_TERMINATED_PREFIXES = ("terminated", "termed")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
# Outcomes that end a course: a row with one of these happened at its completion date.
_FINAL_OUTCOMES = frozenset({Outcome.completed, Outcome.passed, Outcome.failed})
# Excel date serials from 1900-01-01 to 9999-12-31 (in the 1900 date system).
_SERIALS = (1, 2958466)
# The first group of a number with thousands separators: 1 to 999.
_GROUP_HEAD = re.compile(r"[1-9][0-9]{0,2}")
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
    """strptime format for dates written as text that are not ISO 8601, e.g. ``%m/%d/%Y``."""
    timezone: str = "UTC"
    """For times written without a zone."""
    score_scale: Decimal = Decimal(100)
    """Scores are out of this much (100: percentages); ``85%`` is always a percentage."""
    currency: str | None = None
    """Currency of the amount column when the file has no currency column."""
    decimal_separator: str | None = None
    """``.`` or ``,`` in numbers written as text. None: ``.``, and in a CSV delimited by ``;``
    (Excel's CSV in comma-decimal locales) either, unless a value reads both ways."""
    # What the file and the import say, not the mapping:
    delimiter: str | None = None
    """The CSV file's delimiter."""
    epoch: datetime | None = None
    """The XLSX workbook's day 0, for dates stored as serial numbers."""
    imported_at: datetime | None = None
    """When the import was created: the time of an enrolment or progress row with no date."""

    @classmethod
    def of(
        cls,
        raw: dict[str, Any],
        *,
        delimiter: str | None = None,
        epoch: datetime | None = None,
        imported_at: datetime | None = None,
    ) -> Options:
        return cls(
            date_format=raw.get("date_format"),
            timezone=raw.get("timezone") or "UTC",
            score_scale=Decimal(str(raw.get("score_scale") or 100)),
            currency=raw.get("currency"),
            decimal_separator=raw.get("decimal_separator"),
            delimiter=delimiter,
            epoch=epoch,
            imported_at=imported_at,
        )

    def zone(self) -> tzinfo:
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def decimal_marks(self) -> str:
        """The decimal marks a number written as text may use: ``.``, ``,`` or both."""
        if self.decimal_separator:
            return self.decimal_separator
        return ".," if self.delimiter == ";" else "."


WARNING = "warning"
"""``severity`` of a row problem that did not reject the row; problems without one are errors."""


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
        self.warnings: list[dict[str, str]] = []
        """Problems that leave the row imported (an optional value dropped)."""

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

    def value(self, name: str) -> object:
        """The XLSX cell as the workbook holds it (a date, a number); None in a CSV."""
        index = self.columns.get(name)
        if index is None or index >= len(self.row.values):
            return None
        return self.row.values[index]

    def fail(self, name: str, reason: str) -> None:
        self.errors.append({"column": self.column(name), "field": name, "reason": reason})

    def warn(self, name: str, reason: str) -> None:
        self.warnings.append(
            {"column": self.column(name), "field": name, "reason": reason, "severity": WARNING}
        )


def _moment(text: str, options: Options) -> datetime:
    if options.date_format:
        value = datetime.strptime(text, options.date_format)  # noqa: DTZ007 - zone added below
    else:
        value = datetime.fromisoformat(text)
    return _aware(value, options)


def _aware(value: datetime, options: Options) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=options.zone())
    return as_utc(value)


def _date_reason(options: Options) -> str:
    if options.date_format:
        return f"not a date in the format {options.date_format}"
    return (
        "not an ISO 8601 date or time (2026-11-20 or 2026-11-20T14:30:00Z); for other formats "
        "set options.date_format in the mapping"
    )


def _number_cell(value: object) -> int | float | None:
    """An XLSX cell holding a number (not a date, text or TRUE/FALSE)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _moment_of(r: _Row, name: str, options: Options) -> datetime | None:
    """The cell of ``name`` as a moment in UTC; None (and the column's error) when it is not one.

    An XLSX date cell is a date whatever ``date_format`` says: the format is for dates written
    as text. A bare number in an XLSX date column is an Excel date serial (a date typed into a
    cell formatted as General or Number), counted in the workbook's own date system.
    """
    try:
        return _moment_in(r, name, options)
    except OutOfRange as exc:  # from a date cell or serial; text is judged below
        r.fail(name, f"{r.get(name)!r} is {exc}")
        return None


def _moment_in(r: _Row, name: str, options: Options) -> datetime | None:
    value = r.value(name)
    if isinstance(value, datetime):
        return _aware(value, options)
    if isinstance(value, date):
        return _aware(datetime.combine(value, time()), options)
    serial = _number_cell(value)
    if serial is not None:
        if not _SERIALS[0] <= serial < _SERIALS[1]:
            reason = "is a number but not an Excel date: out of the range of date serials"
            r.fail(name, f"{r.get(name)} {reason}")
            return None
        from openpyxl.utils.datetime import (  # noqa: PLC0415 - only XLSX imports pay for it
            CALENDAR_WINDOWS_1900,
            from_excel,
        )

        moment: datetime = from_excel(serial, options.epoch or CALENDAR_WINDOWS_1900)
        return _aware(moment, options)
    text = r.get(name)
    if text is None:
        return None
    try:
        return _moment(text, options)
    except ValueError as exc:
        reason = str(exc) if isinstance(exc, OutOfRange) else _date_reason(options)
        r.fail(name, f"{text!r} is {reason}")
        return None


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def event_id(
    learner: str,
    course: str,
    occurred_at: datetime | None,
    outcome: Outcome = Outcome.completed,
    *,
    enrolled_at: datetime | None = None,
) -> str:
    """Stable per learning record, so a re-uploaded or overlapping file replays instead of
    storing (and paying) again.

    A completed or passed row is keyed by learner, course and completion time, as before
    outcomes were part of the key, so rows imported by earlier versions keep their ids. Any
    other outcome joins the key: a failed attempt and a pass at the same time are two events.
    A row with no completion date (``occurred_at`` None: in progress, enrolled) is keyed by
    its enrolment date, or by learner, course and outcome alone; never by the import's time it
    is stored with, which would make each upload of the same file a new event.
    """
    parts = [learner, course, _utc(occurred_at)]
    if outcome not in PAYABLE_OUTCOMES:
        parts.append(outcome.value)
        if occurred_at is None:
            parts.append(_utc(enrolled_at))
    key = "\x1f".join(parts)
    return f"imp_{sha256_hex(key)[:40]}"


@dataclass(frozen=True, slots=True)
class _When:
    occurred_at: datetime
    field: str | None
    """The column ``occurred_at`` was read from; None: the import's time (the row has none)."""
    enrolled_at: datetime | None = None


def _when(r: _Row, outcome: Outcome, options: Options) -> _When | None:
    """When the row happened.

    A completed, passed or failed row needs its completion date. An enrolment or progress row
    has none in an all-enrolments report: it happened at its enrolment date when the file has
    that column, else it is stored at the import's time (it still counts in completion rates).
    """
    if r.get("completion_date") is None and outcome in _FINAL_OUTCOMES:
        r.fail("completion_date", f"empty: a {_label(outcome)} row needs its completion date")
        return None
    if r.get("completion_date") is not None:
        completed = _moment_of(r, "completion_date", options)
        return None if completed is None else _When(completed, "completion_date")
    if r.get("enrollment_date") is not None:
        enrolled = _moment_of(r, "enrollment_date", options)
        return None if enrolled is None else _When(enrolled, "enrollment_date", enrolled)
    return _When(options.imported_at or utcnow(), None)


def _label(outcome: Outcome) -> str:
    return outcome.value.replace("_", " ")


def _plain(raw: str, marks: str) -> str:
    """A number written as text, with ``.`` as its decimal mark and no thousands separators.

    ``marks`` are the decimal marks allowed (:meth:`Options.decimal_marks`); the other one of
    ``.`` and ``,`` may only group thousands (``1,250.50``, ``1.250,50``). When both are
    allowed, a single separator followed by three digits (``1.250``, ``1,250``) reads both
    ways, a thousand times apart, and is refused rather than guessed. Raises ValueError with
    the reason.
    """
    text = raw.strip()
    sign = text[:1] if text[:1] in ("+", "-") else ""
    body = text[len(sign) :]
    dots, commas = body.count("."), body.count(",")
    if not dots and not commas:
        return text
    if len(marks) == 1:
        mark = marks
    elif dots and commas:
        mark = "." if body.rindex(".") > body.rindex(",") else ","
    else:
        only = "." if dots else ","
        whole, _, tail = body.partition(only)
        if dots + commas > 1:
            mark = "," if only == "." else "."
        elif len(tail) == 3 and _GROUP_HEAD.fullmatch(whole):
            raise ValueError(
                f"{raw!r} is ambiguous: {only!r} may be the decimal mark or separate thousands; "
                "set options.decimal_separator to '.' or ',' in the mapping"
            )
        else:
            mark = only
    group = "," if mark == "." else "."
    if group in body:
        pattern = rf"{_GROUP_HEAD.pattern}(\{group}[0-9]{{3}})+(\{mark}[0-9]+)?"
        if not re.fullmatch(pattern, body):
            other = "a comma" if mark == "." else "a point"
            raise ValueError(
                f"{raw!r} is not a number with {mark!r} as the decimal mark; if the file "
                f"writes decimals with {other}, set options.decimal_separator to {group!r}"
            )
        body = body.replace(group, "")
    return sign + body.replace(mark, ".")


def _score(r: _Row, options: Options) -> float | None:
    raw = r.get("score")
    if raw is None:
        return None
    cell = _number_cell(r.value("score"))
    percent = raw.endswith("%")
    try:
        text = str(cell) if cell is not None else _plain(raw.rstrip("%"), options.decimal_marks())
    except ValueError as exc:
        r.fail("score", str(exc))
        return None
    try:
        number = Decimal(text)
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
    known only once the rows meet the programs in force (``imports.service``).

    Text is read with the file's decimal mark (:meth:`Options.decimal_marks`), and a thousands
    separator only where it groups thousands; an XLSX number cell is taken as it is."""
    raw = r.get("amount")
    if raw is None:
        return None
    if raw.strip().startswith("-"):
        r.fail("amount", f"{raw!r} is negative: an amount override must be zero or more")
        return None
    cell = _number_cell(r.value("amount"))
    try:
        amount = (
            format(Decimal(str(cell)), "f")
            if cell is not None
            else _plain(raw, options.decimal_marks())
        )
    except ValueError as exc:
        r.fail("amount", str(exc))
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
    time_field: str | None = "completion_date"
    """The column ``item.occurred_at`` was read from; None when the row has no date and is
    stored at the import's time."""


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
    outcome = _outcome(r)
    when = _when(r, outcome, options)
    score = _score(r, options)
    classification = _classification(r)
    country = _country(r)
    override = _amount(r, options)
    if r.errors:
        raise RowErrors(r.errors)
    assert learner_id is not None
    assert course_id is not None
    assert when is not None
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
        "event_id": event_id(
            learner_id,
            course_id,
            when.occurred_at if when.field == "completion_date" else None,
            outcome,
            enrolled_at=when.enrolled_at,
        ),
        "occurred_at": when.occurred_at,
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
            if loc[:1] == ("occurred_at",) and when.field is not None:
                source = when.field
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
    return CompletionRow(item, payload, override, when.field)


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
    primary: bool = False
    """The file's primary position column says yes (ADP: one row per position)."""
    warnings: tuple[dict[str, str], ...] = ()
    """What was dropped from the row without rejecting it (an unreadable hire date)."""


DateOrder = Literal["mdy", "dmy"]
"""Month first (US: 3/25/2021) or day first (25/3/2021)."""

# A numeric date with a four-digit year last: 3/4/2021, 03-04-2021, 3.4.2021.
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})$")
# Dates with the month as a word read one way only.
_NAMED_MONTHS = ("%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%B %d, %Y", "%d %B %Y")
_KEPT = "the worker is kept on the roster without a hire date"
_YES = frozenset({"yes", "y", "true", "1", "primary"})
_NO = frozenset({"no", "n", "false", "0"})


def date_order(texts: Iterable[str | None]) -> DateOrder | None:
    """The order of a file's numeric dates, from the ones that read one way only.

    ``3/25/2021`` can only be month first and ``25/3/2021`` only day first; when the file has
    such dates and they agree, its other numeric dates (``3/4/2021``) follow them. None when no
    date tells, or when they disagree: then ``3/4/2021`` is not guessed.
    """
    seen: set[DateOrder] = set()
    for text in texts:
        found = _NUMERIC_DATE.fullmatch(text.strip()) if text else None
        if found is None:
            continue
        first, second = int(found[1]), int(found[3])
        if first <= 12 < second:
            seen.add("mdy")
        elif second <= 12 < first:
            seen.add("dmy")
        if len(seen) > 1:
            return None
    return next(iter(seen), None)


def _text(r: _Row, name: str, limit: int = 200) -> str | None:
    value = r.get(name)
    if value is not None and len(value) > limit:
        r.fail(name, f"longer than {limit} characters")
        return None
    return value


def _date_of(r: _Row, name: str, options: Options) -> date | None:
    """A calendar date, as written (no time zone moves it to another day)."""
    value = r.value(name)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = r.get(name)
    if raw is None:
        return None
    if _number_cell(value) is not None:
        moment = _moment_of(r, name, replace(options, timezone="UTC"))
        return None if moment is None else moment.date()
    try:
        if options.date_format:
            return datetime.strptime(raw, options.date_format).date()  # noqa: DTZ007 - a date
        return date.fromisoformat(raw[:10])
    except ValueError:
        r.fail(name, f"{raw!r} is {_date_reason(options)}")
        return None


def _hire_date(r: _Row, options: Options, order: DateOrder | None) -> date | None:
    """The hire date; None, with a warning, when it cannot be read. It is optional, so a date
    that cannot be read never takes the worker off the roster.

    With ``options.date_format``, and for XLSX date cells and serials, it is read as any date.
    Without a format, text is ISO 8601, a date with the month as a word (``15-Jan-2020``,
    ``Jan 15, 2020``), or a numeric date whose order is sure: ``3/25/2021`` (month first),
    ``25/3/2021`` (day first), and ``3/4/2021`` in the order the file's other dates show
    (``order``, from :func:`date_order`). A date that could be either is never guessed.
    """
    raw = r.get("hire_date")
    if raw is None:
        return None
    value = r.value("hire_date")
    if options.date_format or isinstance(value, date) or _number_cell(value) is not None:
        seen = len(r.errors)
        found = _date_of(r, "hire_date", options)
        for problem in r.errors[seen:]:
            r.warn("hire_date", f"{problem['reason']}; {_KEPT}")
        del r.errors[seen:]
        return found
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        pass
    numeric = _NUMERIC_DATE.fullmatch(raw.strip())
    if numeric is not None:
        return _numeric_date(r, raw, numeric, order)
    for form in _NAMED_MONTHS:
        try:
            return datetime.strptime(raw.strip(), form).date()  # noqa: DTZ007 - a date
        except ValueError:
            continue
    r.warn(
        "hire_date",
        f"{raw!r} is not a date read without options.date_format (2020-01-25, 1/25/2020, "
        f"25/1/2020 or 25-Jan-2020); {_KEPT}. For other forms set options.date_format in the "
        "mapping, e.g. %m/%d/%Y",
    )
    return None


def _numeric_date(
    r: _Row, raw: str, numeric: re.Match[str], order: DateOrder | None
) -> date | None:
    first, second, year = int(numeric[1]), int(numeric[3]), int(numeric[4])
    sure: DateOrder | None = None
    if first <= 12 < second or first == second:
        sure = "mdy"
    elif second <= 12 < first:
        sure = "dmy"
    use = sure or order
    if use is None:
        r.warn(
            "hire_date",
            f"{raw!r} may be month first or day first, and no hire date of the file has a day "
            f"over 12 to tell which; {_KEPT}. Set options.date_format in the mapping to "
            "%m/%d/%Y (month first) or %d/%m/%Y (day first)",
        )
        return None
    month, day = (first, second) if use == "mdy" else (second, first)
    try:
        return date(year, month, day)
    except ValueError:
        r.warn("hire_date", f"{raw!r} is not a calendar date; {_KEPT}")
        return None


def _worker_status(r: _Row) -> WorkerStatus | None:
    raw = r.get("status")
    if raw is None:
        r.fail("status", "empty: expected active, terminated or leave")
        return None
    key = normalize(raw)
    found = _STATUSES.get(key)
    if found is None and key.startswith(_TERMINATED_PREFIXES):
        found = WorkerStatus.terminated
    if found is None:
        r.fail(
            "status",
            f"{raw!r} is not a known status (active; terminated, retired, Terminated - "
            "Voluntary; leave, on leave, pre-hire)",
        )
    return found


def _primary(r: _Row) -> bool:
    raw = r.get("primary_position")
    if raw is None:
        return False
    key = normalize(raw)
    if key not in _YES and key not in _NO:
        r.warn("primary_position", f"{raw!r} is not yes or no: the row is not taken as primary")
    return key in _YES


def roster(
    row: Row,
    columns: dict[str, int],
    headers: list[Cell],
    options: Options,
    *,
    date_order: DateOrder | None = None,
) -> RosterRow:
    """Raises RowErrors naming every bad column of the row; what an optional column loses
    without rejecting the row is in ``warnings``. ``date_order`` is the order of the file's
    numeric hire dates (:func:`date_order`)."""
    r = _Row(row, columns, headers)
    employee_id = _text(r, "employee_id")
    if employee_id is None and not r.errors:
        r.fail("employee_id", "empty: a roster row needs an employee id")
    email = r.get("email")
    if email is not None:
        email = email.lower()
        if not _EMAIL.match(email) or len(email) > 320:
            r.fail("email", f"{r.get('email')!r} is not an email address")
    status = _worker_status(r)
    classification = _classification(r)
    country = _country(r)
    hire_date = _hire_date(r, options, date_order)
    department = _text(r, "department")
    manager = _text(r, "manager")
    primary = _primary(r)
    if r.errors:
        raise RowErrors(r.errors + r.warnings)
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
        primary,
        tuple(r.warnings),
    )
