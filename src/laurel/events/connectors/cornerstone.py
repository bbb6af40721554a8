"""Cornerstone OnDemand Edge Webhooks: Training Completion (``lmsEventsCase`` =
``TrainingCompleted``).

Cornerstone generates an ``x-api-key`` for each endpoint and sends it with every delivery: it
is stored in Laurel as this connector's secret (given when the secret is added, not
generated). A delivery is ``{"records": [...]}``, one record per event; the event id is
``trainingCompleted.data.eventId`` (or the record's ``headers.messageId``). Where the
completion time is not in the record, the record's timestamp is used.
"""

from __future__ import annotations

from typing import Any

from laurel.events.connectors.base import (
    Connector,
    Ignored,
    Incoming,
    Result,
    Unmapped,
    UnreadableBody,
    build,
    counts,
    dig,
    first_present,
    parse_time,
    read_json,
    scaled,
    text,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Bearer, HeaderToken
from laurel.events.models import Outcome

_TIME_FIELDS = ("completionDate", "completedDate", "completionDateTime", "completedOn")


class Cornerstone(Connector):
    name = "cornerstone"
    title = "Cornerstone OnDemand (Edge Webhooks)"
    accepts = (HeaderToken(header="x-api-key"), Bearer())
    learner_keys = ("targetUserRef", "targetUserId", "targetUsername", "targetUserGuid")
    course_keys = ("trainingId", "trainingRef")

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        body = read_json(incoming)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise UnreadableBody("expected an Edge delivery: an object with a records array")
        return [self._one(i, r, mapping) for i, r in enumerate(records)]

    def _one(self, index: int, record: Any, mapping: ConnectorMapping) -> Result:
        value = record.get("value") if isinstance(record, dict) else None
        if not isinstance(value, dict):
            return Unmapped(index, f"records[{index}].value", "missing or not an object")
        case = value.get("lmsEventsCase")
        if case != "TrainingCompleted":
            return Ignored(index, f"{case} is not TrainingCompleted")
        data = dig(value, "trainingCompleted.data")
        if not isinstance(data, dict):
            return Unmapped(index, f"records[{index}].value.trainingCompleted.data", "missing")
        course_field = self.course_key(mapping)
        course = text(data.get(course_field))
        if not counts(mapping, course):
            return Ignored(index, f"course {course} is not in this organization's course_ids")
        when = first_present(
            [data.get(f) for f in _TIME_FIELDS] + [dig(value, "headers.timestamp")]
        )
        prefix = f"records[{index}].value.trainingCompleted.data"
        return build(
            index,
            event_id=text(data.get("eventId")) or text(dig(value, "headers.messageId")),
            occurred_at=parse_time(when),
            outcome=Outcome.completed,
            score=scaled(data.get("score"), mapping.score_scale or 100),
            learner={
                "external_id": text(data.get(self.learner_key(mapping))),
                "name": text(data.get("targetUsername")),
            },
            course={"external_id": course, "title": text(data.get("trainingTitle"))},
            payload=record,
            names={
                "event_id": f"{prefix}.eventId",
                "learner.external_id": f"{prefix}.{self.learner_key(mapping)}",
                "course.external_id": f"{prefix}.{course_field}",
                "occurred_at": f"{prefix}.completionDate",
            },
        )
