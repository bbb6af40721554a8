"""Cornerstone OnDemand Edge Webhooks: Training Completion (``lmsEventsCase`` =
``TrainingCompleted``), read as Cornerstone's developer guide ("Webhooks": security features,
event payload samples) shows it.

Documented, and relied on: a delivery is ``{"records": [...], "sessionId", "attemptNumber",
"subscriptionId"}``; each record holds ``value.headers`` (``messageId``, ``corpName``, …),
``value.lmsEventsCase`` and ``value.trainingCompleted.data`` (``eventId``, ``targetUser*``,
``training*``, ``trainingActionDateTimestamp``), plus the record's own ``timestamp``. Every
request carries the endpoint's ``x-api-key`` (stored here as the connector's secret). An
endpoint may be set to gzip its bodies; they are inflated here (bounded).

Not implemented: Cornerstone's optional HMAC in the ``Authorization`` header. Its inputs are
documented (method, URI, the endpoint's security token, ``x-content-sha256``, ``Date`` and
custom headers) but not the exact string signed nor the header's layout, so it cannot be
verified without guessing; see docs/connectors/cornerstone.md.
"""

from __future__ import annotations

import zlib
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

# The documented completion time first; the others are kept for portals whose payloads add
# them (none is in the published sample), then the record's own timestamp.
_TIME_FIELDS = (
    "trainingActionDateTimestamp",
    "completionDate",
    "completedDate",
    "completionDateTime",
    "completedOn",
)
_GZIP = b"\x1f\x8b"
MAX_INFLATED = 50 * 1024 * 1024
"""A gzip body may expand to at most this many bytes (a bomb is refused, not inflated)."""


def inflate(body: bytes) -> bytes:
    """The body as JSON bytes: gzip (the endpoint's content encoding) is inflated, bounded."""
    if not body.startswith(_GZIP):
        return body
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, MAX_INFLATED)
    except zlib.error as exc:
        raise UnreadableBody(f"the gzip body cannot be inflated: {exc}") from exc
    if inflater.unconsumed_tail:
        raise UnreadableBody(f"the gzip body inflates past {MAX_INFLATED} bytes")
    return out


class Cornerstone(Connector):
    name = "cornerstone"
    title = "Cornerstone OnDemand (Edge Webhooks)"
    accepts = (HeaderToken(header="x-api-key"), Bearer())
    learner_keys = ("targetUserRef", "targetUserId", "targetUsername", "targetUserGuid")
    course_keys = ("trainingId", "trainingRef")

    def redact(self, body: bytes) -> bytes:
        """Dead letters keep the inflated JSON, readable and replayable."""
        try:
            return inflate(body)
        except UnreadableBody:
            return body

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        body = read_json(
            Incoming(body=inflate(incoming.body), headers=incoming.headers, query=incoming.query)
        )
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
            # Edge sends other categories (employee events carry no lmsEventsCase at all, only
            # a key such as employeeCreated): name what arrived so the answer says something.
            kind = case or ", ".join(k for k in value if k != "headers") or "(no event)"
            return Ignored(index, f"{kind} is not TrainingCompleted")
        data = dig(value, "trainingCompleted.data")
        if not isinstance(data, dict):
            return Unmapped(index, f"records[{index}].value.trainingCompleted.data", "missing")
        course_field = self.course_key(mapping)
        course = text(data.get(course_field))
        if not counts(mapping, course):
            return Ignored(index, f"course {course} is not in this organization's course_ids")
        when = first_present(
            [data.get(f) for f in _TIME_FIELDS]
            + [record.get("timestamp"), dig(value, "headers.timestamp")]
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
                "name": _name(data),
            },
            course={"external_id": course, "title": text(data.get("trainingTitle"))},
            payload=record,
            names={
                "event_id": f"{prefix}.eventId",
                "learner.external_id": f"{prefix}.{self.learner_key(mapping)}",
                "course.external_id": f"{prefix}.{course_field}",
                "occurred_at": f"{prefix}.trainingActionDateTimestamp",
            },
        )


def _name(data: dict[str, Any]) -> str | None:
    first, last = text(data.get("targetUserFirstName")), text(data.get("targetUserLastName"))
    if first or last:
        return " ".join(p for p in (first, last) if p)
    return text(data.get("targetUsername"))
