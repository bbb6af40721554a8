"""Docebo: the Webhooks app's ``course.enrollment.completed``.

Deliveries are ``{message_id, event, payload}`` or, when Docebo groups up to 25 events of one
type, ``{message_id, event, payloads: [...]}``; one unreadable entry in a group is a dead letter
of its own, the others still go through. Authentication is configured on the webhook:
HTTP Basic (any user name, the secret as password) or an HMAC-SHA256 of the body in
``X-Docebo-Signature``. Docebo writes times as ``YYYY-MM-DD HH:MM:SS`` without a zone: they are
read in ``mapping.timezone`` (UTC unless set).
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
    parse_time,
    read_json,
    scaled,
    text,
    zone,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Basic, Bearer, Hmac
from laurel.events.models import Outcome

COMPLETED = "course.enrollment.completed"


class Docebo(Connector):
    name = "docebo"
    title = "Docebo"
    accepts = (Hmac(header="x-docebo-signature"), Basic(), Bearer())
    learner_keys = ("user_id", "username")
    course_keys = ("course_id", "course_code")

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        body = read_json(incoming)
        if not isinstance(body, dict) or "message_id" not in body:
            raise UnreadableBody("expected a Docebo webhook message: an object with message_id")
        payloads: Any = body.get("payloads")
        grouped = isinstance(payloads, list)
        if not grouped:
            payloads = [body.get("payload")]
        if body.get("event") != COMPLETED:
            return [
                Ignored(i, f"{body.get('event')} is not {COMPLETED}") for i in range(len(payloads))
            ]
        message_id = text(body.get("message_id"))
        return [
            self._one(i, p, mapping, f"{message_id}#{i}" if grouped else message_id, body)
            for i, p in enumerate(payloads)
        ]

    def _one(
        self,
        index: int,
        payload: Any,
        mapping: ConnectorMapping,
        event_id: str | None,
        envelope: dict[str, Any],
    ) -> Result:
        prefix = f"payloads[{index}]" if isinstance(envelope.get("payloads"), list) else "payload"
        if not isinstance(payload, dict):
            return Unmapped(index, prefix, "not a JSON object")
        learner = text(payload.get(self.learner_key(mapping)))
        course_field = self.course_key(mapping)
        course = text(payload.get(course_field))
        if not counts(mapping, course):
            return Ignored(index, f"course {course} is not in this organization's course_ids")
        when = payload.get("completion_date") or payload.get("fired_at")
        status = text(payload.get("status"))
        if status is not None and status.lower() != "completed":
            # Docebo fires this event only when an enrollment becomes completed, so another
            # status means a payload we do not understand: kept to be read, not dropped.
            return Unmapped(
                index,
                f"{prefix}.status",
                f"status {status!r} on a {COMPLETED} event; expected 'completed'",
            )
        score = scaled(payload.get("score"), mapping.score_scale or 100)
        return build(
            index,
            event_id=event_id,
            occurred_at=parse_time(when, zone(mapping)),
            outcome=Outcome.completed,
            score=score,
            learner={"external_id": learner, "name": text(payload.get("username"))},
            course={"external_id": course, "title": text(payload.get("course_name"))},
            payload={k: v for k, v in envelope.items() if k not in {"payload", "payloads"}}
            | {"payload": payload},
            names={
                "event_id": "message_id",
                "learner.external_id": f"{prefix}.{self.learner_key(mapping)}",
                "course.external_id": f"{prefix}.{course_field}",
                "occurred_at": f"{prefix}.completion_date",
            },
        )
