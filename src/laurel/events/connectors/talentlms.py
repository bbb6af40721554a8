"""TalentLMS: no documented webhooks, so Laurel polls its REST API (see ``polling.py``).

The poller reads ``GET /api/v1/courses`` and, per course, ``GET /api/v1/courses/id:{id}``
(its ``users`` with ``completed_on_timestamp`` and ``completed_on``), authenticated with the
API key as the Basic user name. What one poll read for one course is handed to ``parse`` as a
document ``{"domain", "course": {...}, "users": [...]}``: the same document is what a dead
letter keeps and what a replay reads again.

The event id is derived from (domain, user, course, completion time as TalentLMS wrote it), so
reading a completion again is a replay, never a second event. Only fields TalentLMS writes once
go into it: never a time Laurel computed (a changed ``timezone`` or ``date_format`` would give
a stored completion a new id and pay it twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from laurel.events.connectors.base import (
    Connector,
    Incoming,
    Result,
    Unmapped,
    UnreadableBody,
    build,
    derived_id,
    parse_time,
    read_json,
    scaled,
    text,
    zone,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.models import Outcome

NAME = "talentlms"

DateFormat = Literal["DD/MM/YYYY", "MM/DD/YYYY", "YYYY/MM/DD"]


class PollOptions(BaseModel):
    """``mapping.options`` for TalentLMS: how the portal writes dates, how Laurel polls it."""

    model_config = ConfigDict(extra="forbid")

    date_format: DateFormat = Field(
        default="DD/MM/YYYY",
        description="The portal's date format (Account & Settings → Basic settings), for "
        "`completed_on` when `completed_on_timestamp` is empty; read in `mapping.timezone`",
    )
    calls_per_5_seconds: int = Field(
        default=150,
        ge=1,
        le=200,
        description="API calls Laurel makes in any 5 seconds (TalentLMS allows 200; the rest "
        "is left to the portal's other integrations)",
    )
    overlap_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 86400,
        description="How far before each poll's start the next poll reads again, for "
        "completions recorded while a poll ran or stamped by a portal clock running behind",
    )


def poll_options(mapping: ConnectorMapping) -> PollOptions:
    """The options, checked when the mapping was saved; ValueError if stored ones no longer fit."""
    return PollOptions.model_validate(mapping.options)


@dataclass(frozen=True, slots=True)
class Completion:
    """When a course user completed: as TalentLMS wrote it, and as read."""

    when: Any
    """``completed_on_timestamp`` as written, else ``completed_on``: the derived id's part."""
    at: datetime | None
    """The instant, None when it cannot be read (``problem`` says why)."""
    field: str
    """The course user's field ``at`` was read from (or could not be)."""
    problem: str | None = None

    @property
    def stamp(self) -> int | None:
        return None if self.at is None else int(self.at.timestamp())


def completion(user: dict[str, Any], mapping: ConnectorMapping) -> Completion | None:
    """The course user's completion; None when both completion fields are empty (not done).

    ``completed_on_timestamp`` (Unix seconds) is read first. Without it, ``completed_on`` is
    the portal's local text (``25/12/2019, 03:58:50``), read in ``options.date_format`` and
    ``mapping.timezone``.
    """
    stamp = user.get("completed_on_timestamp")
    local = user.get("completed_on")
    if not _blank(stamp):
        at = parse_time(stamp)
        if at is not None:
            return Completion(stamp, at, "completed_on_timestamp")
        if _blank(local):
            return Completion(
                stamp,
                None,
                "completed_on_timestamp",
                f"{stamp!r} is not a Unix time, and completed_on is empty",
            )
    elif _blank(local):
        return None
    written = str(local).strip()
    try:
        date_format = poll_options(mapping).date_format
    except ValidationError:
        date_format = "DD/MM/YYYY"
    at = local_time(written, date_format, zone(mapping))
    if at is None:
        return Completion(
            written,
            None,
            "completed_on",
            f"{written!r} is not a date and time as {date_format}, HH:MM:SS "
            "(completed_on_timestamp is empty); set mapping.options.date_format to the "
            "portal's date format",
        )
    return Completion(written, at, "completed_on")


_LOCAL = re.compile(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?")


def local_time(written: str, date_format: DateFormat, where: tzinfo) -> datetime | None:
    """``25/12/2019, 03:58:50`` in the portal's date format and time zone, as aware UTC."""
    found = _LOCAL.fullmatch(written.strip())
    if found is None:
        return None
    first, second, third, hour, minute, second_of_minute = found.groups()
    if date_format == "YYYY/MM/DD":
        year, month, day = first, second, third
    elif date_format == "MM/DD/YYYY":
        month, day, year = first, second, third
    else:
        day, month, year = first, second, third
    if len(year) != 4 or len(day) > 2 or len(month) > 2:
        return None
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second_of_minute or 0),
            tzinfo=where,
        )
    except ValueError:
        return None
    return local.astimezone(UTC)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def event_id(domain: Any, user: dict[str, Any], course: dict[str, Any], done: Completion) -> str:
    """The derived id of one completion: the same on every read of it."""
    return derived_id(NAME, domain, user.get("id"), course.get("id"), "completed", done.when)


class TalentLms(Connector):
    name = NAME
    title = "TalentLMS (polled)"
    accepts = ()
    learner_keys = ("id", "email", "login")
    course_keys = ("id", "code")
    polled = True

    def options_problem(self, options: dict[str, Any]) -> tuple[str, str] | None:
        try:
            PollOptions.model_validate(options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return f"options.{where}", str(first["msg"])
        return None

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        doc = read_json(incoming)
        if not isinstance(doc, dict) or not isinstance(doc.get("course"), dict):
            raise UnreadableBody("expected a TalentLMS poll document with course and users")
        course: dict[str, Any] = doc["course"]
        users = doc.get("users")
        if not isinstance(users, list):
            raise UnreadableBody("users is not a list")
        return [self._one(i, doc, course, u, mapping) for i, u in enumerate(users)]

    def _one(
        self,
        index: int,
        doc: dict[str, Any],
        course: dict[str, Any],
        user: Any,
        mapping: ConnectorMapping,
    ) -> Result:
        if not isinstance(user, dict):
            return Unmapped(index, f"users[{index}]", "not an object")
        done = completion(user, mapping)
        if done is None:
            return Unmapped(
                index,
                f"users[{index}].completed_on",
                "empty, as is completed_on_timestamp: the course is not completed",
            )
        if done.at is None:
            return Unmapped(index, f"users[{index}].{done.field}", done.problem or "unreadable")
        learner_key = self.learner_key(mapping)
        course_key = self.course_key(mapping)
        return build(
            index,
            event_id=event_id(doc.get("domain"), user, course, done),
            occurred_at=done.at,
            outcome=Outcome.completed,
            score=scaled(user.get("score"), mapping.score_scale or 100),
            learner={
                "external_id": text(user.get(learner_key)),
                "email": text(user.get("email")),
                "name": text(user.get("name")),
            },
            course={"external_id": text(course.get(course_key)), "title": text(course.get("name"))},
            payload={"domain": doc.get("domain"), "course": course, "user": user},
            names={
                "learner.external_id": f"users[{index}].{learner_key}",
                "course.external_id": f"course.{course_key}",
                "occurred_at": f"users[{index}].{done.field}",
                "learner.email": f"users[{index}].email",
            },
        )
