"""Absorb LMS webhooks: a learner completing a course, and "Enrollment Completed by Admin".

What Absorb documents publicly (support article "Webhooks"): that webhooks exist, that Absorb
sends an HTTP request to a configured listener when a subscribed event occurs, and the event
names in its tables (Administrator events include "Enrollment Completed by Admin"; learner
events include a learner completing a course). It does not publish the payload fields, an
event id, nor how deliveries are authenticated or signed; its Integration API (the REST API,
``X-API-Key``) says nothing about outgoing webhooks either. Laurel therefore reads Absorb
deliveries through field paths an organization can set (``mapping.options.fields``); the
defaults below are Laurel's assumption. A delivery that does not match becomes a dead letter
naming the path it missed, with the body kept: set the paths from it and replay. Event names are
compared without case, spaces or punctuation (``CourseCompleted`` is ``Course Completed``); while
``options.events`` is unset, an unknown event whose name speaks of completion is kept as a dead
letter rather than ignored, since the default names are themselves a guess.
Credentials: whichever the listener is configured with — a token in the URL or a header, HTTP
Basic, or an HMAC-SHA256 of the body in ``X-Absorb-Signature`` (a header named only by a
third-party article's generic example; Absorb confirms no signature).
"""

from __future__ import annotations

import re
from typing import Any

from laurel.events.connectors.base import (
    Connector,
    Ignored,
    Incoming,
    Result,
    Unmapped,
    build,
    counts,
    derived_id,
    dig,
    parse_time,
    read_json,
    scaled,
    text,
    zone,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Basic, Bearer, HeaderToken, Hmac, QueryToken
from laurel.events.models import Outcome

DEFAULT_FIELDS = {
    "event": "eventName",
    "event_id": "id",
    "learner": "userId",
    "email": "emailAddress",
    "course": "courseId",
    "course_title": "courseName",
    "completed_at": "dateCompleted",
    "score": "score",
}
DEFAULT_EVENTS = ("Course Completed", "Enrollment Completed by Admin")
_ID_FIELDS = ("event_id", "learner", "email", "course")
"""Paths that must name a single value, not an object."""


class Absorb(Connector):
    name = "absorb"
    title = "Absorb LMS"
    accepts = (Hmac(header="x-absorb-signature"), QueryToken(), Basic(), Bearer(), HeaderToken())
    learner_keys = ("learner", "email")
    course_keys = ("course",)

    def options_problem(self, options: dict[str, Any]) -> tuple[str, str] | None:
        fields = options.get("fields")
        if fields is not None and not (
            isinstance(fields, dict)
            and all(k in DEFAULT_FIELDS and isinstance(v, str) and v for k, v in fields.items())
        ):
            return (
                "options.fields",
                "give an object of dotted paths keyed by "
                f'{", ".join(DEFAULT_FIELDS)}, e.g. {{"learner": "Learner.Id"}}',
            )
        events = options.get("events")
        if events is not None and not (
            isinstance(events, list) and events and all(isinstance(e, str) and e for e in events)
        ):
            return ("options.events", 'give a list of event names, e.g. ["Course Completed"]')
        return None

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        body = read_json(incoming)
        items = body if isinstance(body, list) else [body]
        fields = DEFAULT_FIELDS | {
            k: str(v) for k, v in (mapping.options.get("fields") or {}).items()
        }
        events = mapping.options.get("events") or list(DEFAULT_EVENTS)
        guessed = not mapping.options.get("events")
        return [
            self._one(i, item, mapping, fields, events, guessed) for i, item in enumerate(items)
        ]

    def _one(
        self,
        index: int,
        event: Any,
        mapping: ConnectorMapping,
        fields: dict[str, str],
        events: list[str],
        guessed: bool,
    ) -> Result:
        if not isinstance(event, dict):
            return Unmapped(index, "(event)", "not a JSON object")
        if (problem := _not_a_value(index, event, fields, ("event",))) is not None:
            return problem
        kind = text(dig(event, fields["event"]))
        if kind is None:
            return Unmapped(
                index,
                fields["event"],
                "no event name here; set mapping.options.fields.event to where Absorb puts it",
            )
        if _name_key(kind) not in {_name_key(e) for e in events}:
            if guessed and "complet" in _name_key(kind):
                return Unmapped(
                    index,
                    fields["event"],
                    f"{kind!r} reads like a completion but is not a counted event "
                    f"({', '.join(events)}); list it in mapping.options.events and replay",
                )
            return Ignored(index, f"{kind} is not one of the counted events ({', '.join(events)})")
        if (problem := _not_a_value(index, event, fields, _ID_FIELDS)) is not None:
            return problem
        learner_path = fields[self.learner_key(mapping)]
        learner = text(dig(event, learner_path))
        course = text(dig(event, fields["course"]))
        if course is not None and not counts(mapping, course):
            return Ignored(index, f"course {course} is not in this organization's course_ids")
        when = dig(event, fields["completed_at"])
        occurred_at = parse_time(when, zone(mapping))
        event_id = text(dig(event, fields["event_id"])) or derived_id(
            self.name, learner, course, kind, occurred_at or when
        )
        return build(
            index,
            event_id=event_id,
            occurred_at=occurred_at,
            outcome=Outcome.completed,
            score=scaled(dig(event, fields["score"]), mapping.score_scale or 100),
            learner={"external_id": learner, "email": text(dig(event, fields["email"]))},
            course={"external_id": course, "title": text(dig(event, fields["course_title"]))},
            payload=event,
            names={
                "learner.external_id": learner_path,
                "course.external_id": fields["course"],
                "occurred_at": fields["completed_at"],
                "learner.email": fields["email"],
            },
        )


def _not_a_value(
    index: int, event: dict[str, Any], fields: dict[str, str], keys: tuple[str, ...]
) -> Unmapped | None:
    """A path that lands on an object or a list: read as text it would become an id like
    ``{'Id': 1}``, so it is a dead letter naming the path instead."""
    for key in keys:
        if isinstance(dig(event, fields[key]), dict | list):
            return Unmapped(
                index,
                fields[key],
                f"an object, not a value; point mapping.options.fields.{key} inside it",
            )
    return None


def _name_key(name: str) -> str:
    """An event name as compared: ``Course Completed``, ``CourseCompleted`` and
    ``course_completed`` are one name."""
    return re.sub(r"[^0-9a-z]", "", name.lower())
