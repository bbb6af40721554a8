"""Moodle: core events forwarded by the ``local_webhooks`` or ``tool_trigger`` plugins.

``local_webhooks`` posts the event's data as JSON plus ``host`` and the service ``token`` (the
shared secret, inside the body: there is no signature). ``tool_trigger`` posts a template the
admin writes and can add a static header, so it authenticates with ``Authorization: Bearer``
or ``X-Laurel-Token``. Moodle events carry no event id: one is derived from (host, learner,
course or module, event name, completion row, time).
"""

from __future__ import annotations

import json
from typing import Any

from laurel.events.connectors import strict_json
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
    text,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Bearer, BodyToken, HeaderToken
from laurel.events.models import Outcome

COURSE_COMPLETED = "\\core\\event\\course_completed"
MODULE_COMPLETION = "\\core\\event\\course_module_completion_updated"

# lib/completionlib.php COMPLETION_* states.
_MODULE_STATES = {
    0: Outcome.in_progress,  # incomplete (again): progress data, never pays
    1: Outcome.completed,
    2: Outcome.passed,
    3: Outcome.failed,
    4: Outcome.failed,  # complete-fail with a hidden grade
}
_REDACTED = "[redacted]"


def _event_name(raw: Any) -> str:
    # Some senders escape or drop the leading backslash; compare on the normalised form.
    name = str(raw or "").replace("\\\\", "\\")
    return name if name.startswith("\\") else "\\" + name


def _state(raw: Any) -> int | None:
    """A completion state as Moodle's PHP sends it: an integer or its digits ("1", " 2 ").

    ``true`` is not 1: JSON booleans are refused, as are fractions.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        return int(raw.strip())
    return None


class Moodle(Connector):
    name = "moodle"
    title = "Moodle"
    accepts = (BodyToken(), Bearer(), HeaderToken())
    learner_keys = ("relateduserid",)
    course_keys = ("courseid",)

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        body = read_json(incoming)
        items = body if isinstance(body, list) else [body]
        return [self._one(i, item, mapping) for i, item in enumerate(items)]

    def _one(self, index: int, event: Any, mapping: ConnectorMapping) -> Result:
        if not isinstance(event, dict):
            return Unmapped(index, "(event)", "not a JSON object")
        name = _event_name(event.get("eventname"))
        if name not in {COURSE_COMPLETED, MODULE_COMPLETION}:
            return Ignored(index, f"{name} is not a completion event")
        learner = text(event.get("relateduserid")) or text(dig(event, "other.relateduserid"))
        course = text(event.get("courseid"))
        outcome = Outcome.completed
        external = course
        title = None
        if name == MODULE_COMPLETION:
            raw = dig(event, "other.completionstate")
            state = _state(raw)
            if state not in _MODULE_STATES:
                return Unmapped(
                    index,
                    "other.completionstate",
                    f"expected 0-4 (COMPLETION_* states), got {raw!r}",
                )
            outcome = _MODULE_STATES[state]
            module = text(event.get("contextinstanceid"))
            external = f"{course}/cm/{module}" if course and module else None
            title = f"Moodle activity {module} in course {course}"
        if not counts(mapping, course) and not counts(mapping, external):
            return Ignored(index, f"course {course} is not in this organization's course_ids")
        when = parse_time(event.get("timecreated"))
        payload = {k: v for k, v in event.items() if k != "token"}
        return build(
            index,
            event_id=derived_id(
                self.name,
                event.get("host"),
                learner,
                external,
                name,
                event.get("objectid"),
                event.get("timecreated"),
            ),
            occurred_at=when,
            outcome=outcome,
            learner={"external_id": learner},
            course={"external_id": external, "title": title},
            payload=payload,
            names={
                "learner.external_id": "relateduserid",
                "course.external_id": "courseid",
                "occurred_at": "timecreated",
            },
        )

    def redact(self, body: bytes) -> bytes:
        try:
            data = strict_json.lenient(body)
        except (ValueError, UnicodeDecodeError):
            return body
        items = data if isinstance(data, list) else [data]
        for item in items:
            if isinstance(item, dict) and "token" in item:
                item["token"] = _REDACTED
        return json.dumps(data).encode()
