"""Open edX: ``COURSE_PASSING_STATUS_UPDATED`` and ``CERTIFICATE_CREATED`` (openedx-events).

The bridges that forward these signals do not sign. Laurel reads the signal as openedx-events
serialises it — ``{"metadata": {...}, "course_passing_status" | "certificate": {...}}`` — signed
with ``X-Laurel-Signature: sha256=<HMAC of the body>`` (what a small receiver plugin or an
event-bus consumer sends), or authenticated with a static ``Authorization: Bearer`` /
``X-Laurel-Token`` header (what the bridges can add). ``metadata.id`` is the event id when
forwarded; otherwise one is derived from (host, learner, course, event type, time).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    derived_id,
    dig,
    parse_time,
    read_json,
    scaled,
    text,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Bearer, HeaderToken, Hmac
from laurel.events.models import Outcome

PASSING = "org.openedx.learning.course.passing.status.updated.v1"
CERTIFICATE = "org.openedx.learning.certificate.created.v1"
_ALIASES = {
    "COURSE_PASSING_STATUS_UPDATED": PASSING,
    "CERTIFICATE_CREATED": CERTIFICATE,
    PASSING: PASSING,
    CERTIFICATE: CERTIFICATE,
}
_DATA_KEY = {PASSING: "course_passing_status", CERTIFICATE: "certificate"}
# Certificate statuses that mean the learner earned it (edx-platform CertificateStatuses).
_EARNED = frozenset({"downloadable"})


def _cloud_event(headers: Mapping[str, str]) -> dict[str, str]:
    """The event's metadata when it travels in headers, as the event bus carries it: CloudEvents
    attributes ``ce-type``, ``ce-id``, ``ce-time`` (HTTP binding), or ``ce_type``… (the
    openedx event-bus message headers a bridge may copy), and ``sourcehost``."""
    found: dict[str, str] = {}
    for name in ("type", "id", "time", "sourcehost"):
        for header in (f"ce-{name}", f"ce_{name}", name):
            value = headers.get(header)
            if value and name not in found:
                found[name] = value.strip()
    return found


class OpenEdx(Connector):
    name = "openedx"
    title = "Open edX"
    accepts = (Hmac(), Bearer(), HeaderToken())
    learner_keys = ("user_id", "email", "username")
    course_keys = ("course_key",)
    kept_headers = (
        "content-type",
        "user-agent",
        "ce-type",
        "ce-id",
        "ce-time",
        "ce_type",
        "ce_id",
        "ce_time",
        "sourcehost",
    )

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        body = read_json(incoming)
        if isinstance(body, list):
            return [self._one(i, item, mapping, {}) for i, item in enumerate(body)]
        return [self._one(0, body, mapping, _cloud_event(incoming.headers))]

    def _one(
        self, index: int, event: Any, mapping: ConnectorMapping, envelope: dict[str, str]
    ) -> Result:
        if not isinstance(event, dict):
            raise UnreadableBody(f"event {index} is not a JSON object")
        raw_type = (
            dig(event, "metadata.event_type") or event.get("event_type") or envelope.get("type")
        )
        if raw_type is None:
            # The signal's data alone (an event-bus message body): its one data key says which.
            present = [kind for kind, key in _DATA_KEY.items() if key in event]
            raw_type = present[0] if len(present) == 1 else None
        kind = _ALIASES.get(str(raw_type))
        if kind is None:
            return Ignored(index, f"{raw_type} is not an event Laurel reads")
        key = _DATA_KEY[kind]
        data = event.get(key)
        if not isinstance(data, dict):
            return Unmapped(index, key, f"missing: {raw_type} carries its data under {key!r}")
        learner_path = {
            "user_id": "user.id",
            "email": "user.pii.email",
            "username": "user.pii.username",
        }[self.learner_key(mapping)]
        learner = text(dig(data, learner_path))
        course = text(dig(data, "course.course_key"))
        if not counts(mapping, course):
            return Ignored(index, f"course {course} is not in this organization's course_ids")
        score = None
        if kind == PASSING:
            passing = data.get("is_passing")
            if not isinstance(passing, bool):
                return Unmapped(
                    index, f"{key}.is_passing", f"expected true or false, got {passing!r}"
                )
            # Not passing (yet) is progress: the grade can still rise, so it is not `failed`.
            outcome = Outcome.passed if passing else Outcome.in_progress
        else:
            status = data.get("current_status")
            if not isinstance(status, str) or status not in _EARNED:
                return Ignored(index, f"certificate status {status!r} is not an earned certificate")
            outcome = Outcome.passed
            score = scaled(data.get("grade"), mapping.score_scale or 1)
        time = dig(event, "metadata.time") or envelope.get("time")
        when = parse_time(time)
        source = dig(event, "metadata.sourcehost") or envelope.get("sourcehost")
        event_id = (
            text(dig(event, "metadata.id"))
            or text(envelope.get("id"))
            or derived_id(self.name, source, learner, course, kind, when or time)
        )
        return build(
            index,
            event_id=event_id,
            occurred_at=when,
            outcome=outcome,
            score=score,
            learner={
                "external_id": learner,
                "email": text(dig(data, "user.pii.email")),
                "name": text(dig(data, "user.pii.name")),
            },
            course={"external_id": course, "title": text(dig(data, "course.display_name"))},
            payload=event,
            names={
                "learner.external_id": f"{key}.{learner_path}",
                "course.external_id": f"{key}.course.course_key",
                "occurred_at": "metadata.time",
                "learner.email": f"{key}.user.pii.email",
            },
        )
