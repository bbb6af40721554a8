"""SAP Litmos: ``achievement.earned`` webhooks (course or learning path completed).

Litmos does not document a signature. Its webhook URL is free, so the secret goes in it
(``?token=``), or in an ``Authorization`` header (Basic with the secret as password, or
Bearer) where a proxy adds one. ``id`` is the event id. ``data.result`` is mapped through
``mapping.options.results`` (default ``Completed`` → completed, ``Passed`` → passed,
``Failed`` → failed); an unknown result is a dead letter until the mapping names it.
``data.userName`` is often, not always, the learner's e-mail: it is kept as the e-mail only when
it has an e-mail's shape, so an odd user name never holds up a completion.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from laurel.events.connectors.base import (
    Connector,
    Ignored,
    Incoming,
    Result,
    Unmapped,
    build,
    counts,
    parse_time,
    read_json,
    text,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Basic, Bearer, HeaderToken, QueryToken
from laurel.events.models import Outcome
from laurel.learners.schemas import Email

DEFAULT_RESULTS = {"completed": "completed", "passed": "passed", "failed": "failed"}
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


class Litmos(Connector):
    name = "litmos"
    title = "SAP Litmos"
    accepts = (QueryToken(), Basic(), Bearer(), HeaderToken())
    learner_keys = ("userId", "userName")
    course_keys = ("courseId", "code")

    def options_problem(self, options: dict[str, Any]) -> tuple[str, str] | None:
        results = options.get("results")
        if results is None:
            return None
        outcomes = sorted(o.value for o in Outcome)
        if not isinstance(results, dict) or not all(
            isinstance(v, str) and v in outcomes for v in results.values()
        ):
            return (
                "options.results",
                "give an object from Litmos result to Laurel outcome, e.g. "
                f'{{"Completed": "completed"}}; outcomes: {", ".join(outcomes)}',
            )
        return None

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        body = read_json(incoming)
        items = body if isinstance(body, list) else [body]
        return [self._one(i, item, mapping) for i, item in enumerate(items)]

    def _one(self, index: int, event: Any, mapping: ConnectorMapping) -> Result:
        if not isinstance(event, dict):
            return Unmapped(index, "(event)", "not a JSON object")
        kind = str(event.get("type", "")).lower()
        if kind != "achievement.earned":
            return Ignored(index, f"{event.get('type')} is not achievement.earned")
        data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
        course_field = self.course_key(mapping)
        course = text(data.get(course_field))
        if not counts(mapping, course):
            return Ignored(index, f"course {course} is not in this organization's course_ids")
        results = {
            str(k).lower(): str(v) for k, v in (mapping.options.get("results") or {}).items()
        } or DEFAULT_RESULTS
        result = str(data.get("result") or "Completed")
        outcome = results.get(result.lower())
        if outcome not in {o.value for o in Outcome}:
            return Unmapped(
                index,
                "data.result",
                f"result {result!r} is not mapped; set mapping.options.results "
                f"(known: {', '.join(sorted(results))})",
            )
        user_name = text(data.get("userName"))
        names = " ".join(p for p in (text(data.get("firstName")), text(data.get("lastName"))) if p)
        return build(
            index,
            event_id=text(event.get("id")),
            occurred_at=parse_time(data.get("achievementDate")),
            outcome=outcome,
            learner={
                "external_id": text(data.get(self.learner_key(mapping))),
                "email": _email(user_name),
                "name": names or None,
            },
            course={"external_id": course, "title": text(data.get("title"))},
            payload=event,
            names={
                "event_id": "id",
                "learner.external_id": f"data.{self.learner_key(mapping)}",
                "course.external_id": f"data.{course_field}",
                "occurred_at": "data.achievementDate",
                "learner.email": "data.userName",
            },
        )


def _email(user_name: str | None) -> str | None:
    """The user name when it is an e-mail Laurel can keep; otherwise no e-mail at all."""
    if user_name is None or "@" not in user_name:
        return None
    try:
        return _EMAIL.validate_python(user_name)
    except ValidationError:
        return None
