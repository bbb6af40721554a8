"""What a Caliper event means to Laurel.

| event | learner | outcome | score |
|---|---|---|---|
| GradeEvent Graded with a usable score | ``object.assignee`` | completed (failed at 0) | ``scoreGiven / maxScore`` |
| GradeEvent Graded without a usable score | ``object.assignee`` | in_progress | — |
| GradeEvent Graded of an AssessmentItem | ``object.assignee`` | in_progress | as above |
| AssignableEvent Completed | ``actor`` | completed | — |
| AssessmentEvent / AssignableEvent Submitted | ``actor`` | in_progress | — |
| AssessmentEvent / AssignableEvent Started | ``actor`` | in_progress | — |
| AssessmentItemEvent Completed | ``actor`` | in_progress | — |
| ToolUseEvent Used with ``generated`` measures (progress) | ``actor`` | in_progress | — |
| anything else | — | stored only | — |

A submission is handed-in work, not a result: the GradeEvent that follows carries the result.
A usable score is a number ``generated.scoreGiven`` over ``generated.maxScore`` (or, when the
Score has none, the assignable's ``maxScore``); a grade without one (no ``generated``, a null
``scoreGiven``, nothing to scale it by) is progress and never a completion.

The course is ``group.id`` (the course section), else what the event is about: an Attempt stands
for its ``assignable``, never for itself (each attempt would be a new course). An event with
neither is stored only. The learner's ``external_id`` is the Person's IRI as sent. The anonymous
Person (``http://purl.imsglobal.org/caliper/Person``) is never attributed to anyone.
"""  # noqa: E501 - a table reads better unbroken

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from laurel.courses.schemas import CourseRef
from laurel.events.models import Outcome
from laurel.kit.clock import sender_time
from laurel.learners.schemas import LearnerRef

ANONYMOUS = "http://purl.imsglobal.org/caliper/"
_MAX_ID = 200
_ASSIGNED = frozenset({"AssessmentEvent", "AssignableEvent"})


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


def about(target: Any) -> Any:
    """What an event's object is about, for the course: an Attempt stands for its assignable.

    None when the object is an Attempt that names no assignable: the attempt itself is never a
    course (every submission would be a new one).
    """
    if isinstance(target, dict) and (_type(target) == "Attempt" or "assignable" in target):
        return target.get("assignable")
    return target


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


def _number(value: Any) -> float | None:
    """A finite JSON number as a float; None for anything else (1e400 parses as infinity, and
    an integer of hundreds of digits has no float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def score_of(generated: Any, assignable: Any) -> tuple[float | None, str | None]:
    """(scaled score, None), or (None, why the grade has no usable score)."""
    if generated is None:
        return None, "no generated Score"
    if not isinstance(generated, dict):
        return None, "the generated Score is given by its IRI only"
    given = generated.get("scoreGiven")
    if given is None:
        return None, "generated.scoreGiven is null or absent"
    score = _number(given)
    if score is None:
        return None, f"generated.scoreGiven is not a finite number: {str(given)[:40]}"
    most = _number(generated.get("maxScore"))
    if most is None and isinstance(assignable, dict):
        most = _number(assignable.get("maxScore"))
    if most is None or most <= 0:
        return (
            None,
            "no maxScore above 0 (generated.maxScore, else the assignable's) to scale it by",
        )
    return min(max(score / most, 0.0), 1.0), None


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


def read(event: dict[str, Any], *, received_at: datetime) -> Reading:
    """Decide what a validated event means (``received_at``: when Laurel received it)."""
    kind, action = event["type"], event["action"]
    occurred_at, ahead = sender_time(datetime.fromisoformat(event["eventTime"]), received_at)
    skew = " (eventTime is ahead of Laurel's clock: the time received is used)" if ahead else ""
    target = event["object"]

    def reading(
        learner: LearnerRef | None,
        outcome: Outcome | None,
        note: str,
        *,
        fallback: Any = None,
        score: float | None = None,
    ) -> Reading:
        course = course_of(event, fallback if fallback is not None else about(target))
        if outcome is not None and course is None:
            outcome, note = None, f"{note}; no course (no group, no assignable): stored only"
        return Reading(learner, course, outcome, score, occurred_at, note + skew)

    if kind == "GradeEvent":
        assignee = target.get("assignee") if isinstance(target, dict) else None
        learner = learner_of(assignee)
        if learner is None:
            return reading(None, None, "no identified assignee: not attributed to a learner")
        assignable = target.get("assignable") if isinstance(target, dict) else None
        score, unusable = score_of(event.get("generated"), assignable)
        if _type(assignable) == "AssessmentItem":
            return reading(
                learner, Outcome.in_progress, "graded one item", fallback=assignable, score=score
            )
        if unusable is not None:
            note = f"graded without a usable score ({unusable}): progress, never a completion"
            return reading(learner, Outcome.in_progress, note)
        if score == 0:
            # Nothing earned (Canvas grades missing work 0): never a completion, whatever the
            # program's pass mark.
            return reading(learner, Outcome.failed, "graded 0: a failure", score=score)
        return reading(learner, Outcome.completed, "graded", score=score)
    learner = learner_of(event["actor"])
    if learner is None:
        return reading(None, None, "anonymous actor: never attributed to a learner")
    if kind in _ASSIGNED:
        if action == "Submitted":
            return reading(
                learner, Outcome.in_progress, f"{kind} Submitted: progress, the grade is the result"
            )
        if action == "Completed":
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
