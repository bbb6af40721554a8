"""TalentLMS: no documented webhooks, so Laurel polls its REST API (see ``polling.py``).

The poller reads ``GET /api/v1/courses`` and, per course, ``GET /api/v1/courses/id:{id}``
(its ``users`` with ``completed_on_timestamp``), authenticated with the API key as the Basic
user name. What one poll read for one course is handed to ``parse`` as a document
``{"domain", "course": {...}, "users": [...]}``: the same document is what a dead letter keeps
and what a replay reads again. The event id is derived from (domain, user, course,
completion time), so reading a completion again is a replay, never a second event.
"""

from __future__ import annotations

from typing import Any

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
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.models import Outcome


class TalentLms(Connector):
    name = "talentlms"
    title = "TalentLMS (polled)"
    accepts = ()
    learner_keys = ("id", "email", "login")
    course_keys = ("id", "code")
    polled = True

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
        learner_key = self.learner_key(mapping)
        course_key = self.course_key(mapping)
        course_id = text(course.get(course_key))
        when = user.get("completed_on_timestamp")
        return build(
            index,
            event_id=derived_id(
                self.name, doc.get("domain"), user.get("id"), course.get("id"), "completed", when
            ),
            occurred_at=parse_time(when),
            outcome=Outcome.completed,
            score=scaled(user.get("score"), mapping.score_scale or 100),
            learner={
                "external_id": text(user.get(learner_key)),
                "email": text(user.get("email")),
                "name": text(user.get("name")),
            },
            course={"external_id": course_id, "title": text(course.get("name"))},
            payload={"domain": doc.get("domain"), "course": course, "user": user},
            names={
                "learner.external_id": f"users[{index}].{learner_key}",
                "course.external_id": f"course.{course_key}",
                "occurred_at": f"users[{index}].completed_on_timestamp",
                "learner.email": f"users[{index}].email",
            },
        )
