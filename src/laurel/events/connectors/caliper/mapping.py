"""What a Caliper event means to Laurel.

| event | learner | outcome | score |
|---|---|---|---|
| GradeEvent Graded (of an Assessment or assignable) | ``object.assignee`` | completed | ``generated.scoreGiven / maxScore`` |
| GradeEvent Graded of an AssessmentItem | ``object.assignee`` | in_progress | same |
| AssessmentEvent / AssignableEvent Submitted or Completed | ``actor`` | completed | — |
| AssessmentEvent / AssignableEvent Started | ``actor`` | in_progress | — |
| AssessmentItemEvent Completed | ``actor`` | in_progress | — |
| ToolUseEvent Used with ``generated`` measures (progress) | ``actor`` | in_progress | — |
| anything else | — | stored only | — |

The course is ``group.id`` (the course section), or the assessment when there is no group. The
learner's ``external_id`` is the Person's IRI as sent. The anonymous Person
(``http://purl.imsglobal.org/caliper/Person``) is never attributed to anyone.
"""  # noqa: E501 - a table reads better unbroken

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from laurel.courses.schemas import CourseRef
from laurel.events.models import Outcome
from laurel.learners.schemas import LearnerRef

ANONYMOUS = "http://purl.imsglobal.org/caliper/"
_MAX_ID = 200
_DONE = frozenset({"Submitted", "Completed"})


@dataclass(frozen=True, slots=True)
class Reading:
    learner: LearnerRef | None
    course: CourseRef | None
    outcome: Outcome | None
    score: float | None
    occurred_at: datetime
    note: str


def _id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _type(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else None


def _bounded(value: str) -> str:
    if len(value) <= _MAX_ID:
        return value
    return f"sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def learner_of(person: Any) -> LearnerRef | None:
    identifier = _id(person)
    if identifier is None or identifier.startswith(ANONYMOUS):
        return None
    name = person.get("name") if isinstance(person, dict) else None
    return LearnerRef(
        external_id=_bounded(identifier),
        name=name[:200] if isinstance(name, str) and name.strip() else None,
    )


def course_of(event: dict[str, Any], fallback: Any) -> CourseRef | None:
    group = event.get("group")
    identifier = _id(group)
    if identifier is None or identifier.startswith(ANONYMOUS):
        group, identifier = fallback, _id(fallback)
    if identifier is None:
        return None
    title = None
    if isinstance(group, dict):
        title = group.get("name") or group.get("courseNumber")
    return CourseRef(
        external_id=_bounded(identifier),
        title=title[:300] if isinstance(title, str) and title.strip() else None,
    )


def _score(generated: Any) -> float | None:
    if not isinstance(generated, dict):
        return None
    given, most = generated.get("scoreGiven"), generated.get("maxScore")
    if not isinstance(given, int | float) or not isinstance(most, int | float):
        return None
    if isinstance(given, bool) or isinstance(most, bool) or most <= 0:
        return None
    return min(max(float(given) / float(most), 0.0), 1.0)


def _progress(generated: Any) -> str | None:
    """Caliper carries progress as AggregateMeasures in ``generated``: name them in the note."""
    if not isinstance(generated, dict):
        return None
    items = generated.get("items") if _type(generated) == "AggregateMeasureCollection" else None
    if _type(generated) == "AggregateMeasure":
        items = [generated]
    if not isinstance(items, list) or not items:
        return None
    parts = []
    for item in items:
        if isinstance(item, dict) and "metric" in item:
            value, most = item.get("metricValue"), item.get("maxMetricValue")
            parts.append(f"{item['metric']} {value}" + (f"/{most}" if most is not None else ""))
    return ", ".join(parts) or None


def read(event: dict[str, Any]) -> Reading:
    """Decide what a validated event means."""
    kind, action = event["type"], event["action"]
    occurred_at = datetime.fromisoformat(event["eventTime"])
    target = event["object"]

    def reading(
        learner: LearnerRef | None, outcome: Outcome | None, note: str, *, fallback: Any = None
    ) -> Reading:
        course = course_of(event, fallback if fallback is not None else target)
        score = _score(event.get("generated")) if kind == "GradeEvent" else None
        return Reading(learner, course, outcome, score, occurred_at, note)

    if kind == "GradeEvent":
        assignee = target.get("assignee") if isinstance(target, dict) else None
        learner = learner_of(assignee)
        if learner is None:
            return reading(None, None, "no identified assignee: not attributed to a learner")
        assignable = target.get("assignable") if isinstance(target, dict) else None
        if _type(assignable) == "AssessmentItem":
            return reading(learner, Outcome.in_progress, "graded one item", fallback=assignable)
        return reading(learner, Outcome.completed, "graded", fallback=assignable or target)
    learner = learner_of(event["actor"])
    if learner is None:
        return reading(None, None, "anonymous actor: never attributed to a learner")
    if kind in {"AssessmentEvent", "AssignableEvent"}:
        if action in _DONE:
            return reading(learner, Outcome.completed, f"{kind} {action}")
        if action == "Started":
            return reading(learner, Outcome.in_progress, f"{kind} {action}")
    if kind == "AssessmentItemEvent" and action == "Completed":
        return reading(learner, Outcome.in_progress, "completed one assessment item")
    if kind == "ToolUseEvent":
        progress = _progress(event.get("generated"))
        if progress is not None:
            return reading(learner, Outcome.in_progress, f"progress: {progress}")
        return reading(learner, None, "tool use without progress")
    return reading(learner, None, f"{kind} {action} does not describe a result")
