"""What every connector is: verified request in, ``CompletionIn`` items (or precise errors) out.

A connector never touches the database. The intake (``intake.py``) resolves the organization,
checks credentials with the connector's ``accepts`` list, asks the connector to ``parse`` the
body with the organization's mapping, and hands the mapped items to ``events.service``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from laurel.events.connectors import strict_json
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Check
from laurel.events.schemas import CompletionIn
from laurel.kit.clock import OutOfRange, as_utc
from laurel.kit.validation import describe_errors


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request as the connector sees it: raw bytes, lower-case header names, query."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Mapped:
    index: int
    item: CompletionIn
    payload: dict[str, Any]
    """The part of the delivery this event came from: stored on the event."""


@dataclass(frozen=True, slots=True)
class Unmapped:
    """An event in the delivery that cannot become a completion: which field, and why."""

    index: int
    field: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that is not about completion (or not for a counted course): answered, not kept."""

    index: int
    reason: str


Result = Mapped | Unmapped | Ignored


class UnreadableBody(Exception):
    """The body as a whole cannot be read (not JSON, not the documented envelope)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Connector:
    """Base of every connector module. Subclasses set the class attributes and ``parse``."""

    name: ClassVar[str]
    title: ClassVar[str]
    accepts: ClassVar[tuple[Check, ...]]
    """Credentials this source can present, in the order they are tried."""
    learner_keys: ClassVar[tuple[str, ...]] = ()
    """Choices for ``mapping.learner_id``; the first is the default."""
    course_keys: ClassVar[tuple[str, ...]] = ()
    """Choices for ``mapping.course_id``; the first is the default."""
    kept_headers: ClassVar[tuple[str, ...]] = ("content-type", "user-agent")
    """Headers worth keeping on a dead letter (never credentials)."""
    polled: ClassVar[bool] = False
    """True for sources Laurel polls instead of receiving pushes (no webhook endpoint)."""

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        raise NotImplementedError

    def check_body(self, incoming: Incoming, mapping: ConnectorMapping) -> str | None:
        """A signature carried in the body itself (Canvas JWT): why it fails, or None."""
        return None

    def options_problem(self, options: dict[str, Any]) -> tuple[str, str] | None:
        """(option, reason) when ``mapping.options`` cannot work for this connector."""
        return None

    def redact(self, body: bytes) -> bytes:
        """The body to keep on a dead letter: sources that put a secret inside it remove it."""
        return body

    def learner_key(self, mapping: ConnectorMapping) -> str:
        return mapping.learner_id or self.learner_keys[0]

    def course_key(self, mapping: ConnectorMapping) -> str:
        return mapping.course_id or self.course_keys[0]


# --------------------------------------------------------------------------- helpers


def read_json(incoming: Incoming) -> Any:
    """The body as JSON. Some plugins label JSON as form data, so the label is not trusted."""
    try:
        return strict_json.lenient(incoming.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableBody(f"the body is not JSON: {exc}") from exc


def dig(value: Any, path: str) -> Any:
    """``dig(body, "course.id")``; None when any step is missing."""
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def text(value: Any) -> str | None:
    """An id as text: numbers become digits, empty strings become None.

    An object or a list is None too: printed it would pass for an id (``{'Id': 7}``), so a
    field that holds one reads as missing and the event becomes a dead letter naming it."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    out = str(value).strip()
    return out or None


def zone(mapping: ConnectorMapping) -> tzinfo:
    return UTC if mapping.timezone == "UTC" else ZoneInfo(mapping.timezone)


_MILLISECONDS_FROM = 1e11
"""Unix times at or above this are milliseconds (1e11 seconds is the year 5138; 1e11 ms, 1973)."""


def parse_time(value: Any, default_zone: tzinfo = UTC) -> datetime | None:
    """ISO 8601 (``Z`` or an offset, extended or basic form), ``YYYY-MM-DD HH:MM:SS``, Unix
    seconds (or milliseconds) or Microsoft's JSON date ``/Date(ms[+hhmm])/``, as aware UTC.

    A time without an offset is read in ``default_zone`` (the organization's mapping says which
    zone a source writes local times in). None when the value cannot be read.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and (found := _JSON_DATE.fullmatch(value.strip())):
        # .NET serialisers (older Litmos and Cornerstone APIs): milliseconds since the epoch
        # in UTC; the offset only says where the writer was, the instant is the same.
        value = int(found.group(1))
        return _epoch(value / 1000)
    if isinstance(value, str) and len(digits := value.strip()) == 8 and digits.isdigit():
        # YYYYMMDD, ISO 8601's basic date: as Unix seconds it would be a day in 1970.
        try:
            return as_utc(datetime.strptime(digits, "%Y%m%d").replace(tzinfo=default_zone))
        except ValueError:
            return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        try:
            seconds = float(value)
        except (OverflowError, ValueError):  # an integer past a float's range
            return None
        if seconds >= _MILLISECONDS_FROM:
            # Milliseconds (JavaScript's Date.now(), Java's epoch millis): as seconds this
            # would be after the year 5000.
            seconds /= 1000
        return _epoch(seconds)
    if not isinstance(value, str):
        return None
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_zone)
    try:
        return as_utc(parsed)
    except OutOfRange:
        return None


_JSON_DATE = re.compile(r"/Date\((-?\d{1,15})(?:[+-]\d{4})?\)/")


def _epoch(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def derived_id(connector: str, *parts: object) -> str:
    """A stable event id for sources that send none: the same facts give the same id.

    The parts are (instance, learner, course, event type, completion time), so a retried
    delivery is recognised as a replay, while a new completion time makes a new event. Pass
    the time as read (:func:`parse_time`): a datetime counts by the instant it names, so a
    retry that writes it another way (``…:44Z``, ``…:44.000Z``, ``…:44+00:00``) is the same
    event. A time that could not be read counts as written.
    """
    joined = "\x1f".join(_part(p) for p in parts)
    return f"{connector}:derived:{hashlib.sha256(joined.encode()).hexdigest()[:40]}"


def _part(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def scaled(raw: Any, scale: float) -> float | None:
    """A raw score over ``scale`` as a 0–1 fraction, clamped; None when there is none."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        number = float(raw)
    except (OverflowError, TypeError, ValueError):
        return None
    if scale <= 0 or not math.isfinite(number):  # "nan", "inf" and 1e400 are no score
        return None
    return max(0.0, min(1.0, number / scale))


def build(
    index: int,
    *,
    event_id: str | None,
    occurred_at: datetime | None,
    outcome: str,
    learner: Mapping[str, Any],
    course: Mapping[str, Any],
    payload: dict[str, Any],
    score: float | None = None,
    names: Mapping[str, str] | None = None,
) -> Mapped | Unmapped:
    """Validate the mapped fields as a ``CompletionIn``; the first bad field becomes the reason.

    ``names`` translates Laurel's field names back to the source's, so the error names the
    field the LMS administrator can see (``relateduserid``, not ``learner.external_id``).
    """
    source_names = names or {}
    if occurred_at is None:
        return Unmapped(index, source_names.get("occurred_at", "occurred_at"), "no readable time")
    data = {
        "event_id": event_id,
        "occurred_at": occurred_at,
        "outcome": outcome,
        "score": score,
        "learner": {k: v for k, v in learner.items() if v is not None},
        "course": {k: v for k, v in course.items() if v is not None},
    }
    try:
        return Mapped(index, CompletionIn.model_validate(data), payload)
    except ValidationError as exc:
        first = describe_errors(exc.errors())[0]
        where = str(first["field"])
        if where in {"learner", "course"}:
            where = f"{where}.external_id"
        return Unmapped(index, source_names.get(where, where), str(first["message"]))


def counts(mapping: ConnectorMapping, course_id: str | None) -> bool:
    """Whether the organization counts this course (no list means every course counts)."""
    return mapping.course_ids is None or (course_id is not None and course_id in mapping.course_ids)


def first_present(values: Sequence[Any]) -> Any:
    return next((v for v in values if v not in (None, "")), None)
