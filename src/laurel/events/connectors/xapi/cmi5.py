"""cmi5 (AICC/ADL profile of xAPI): which statements count, and when an AU is done.

A *cmi5 defined* statement carries the cmi5 category in ``context.contextActivities.category``;
a *cmi5 allowed* statement is sent in a cmi5 session (it has the session id extension) without
that category. Only defined statements drive moveOn: an allowed ``passed`` on a quiz inside an
AU never completes the AU.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
SESSION_ID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
MOVE_ON = "https://w3id.org/xapi/cmi5/context/extensions/moveon"
MASTERY_SCORE = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore"
SATISFIED = "https://w3id.org/xapi/adl/verbs/satisfied"
LAUNCHED = "http://adlnet.gov/expapi/verbs/launched"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
FAILED = "http://adlnet.gov/expapi/verbs/failed"


class MoveOn(StrEnum):
    completed = "Completed"
    passed = "Passed"
    completed_and_passed = "CompletedAndPassed"
    completed_or_passed = "CompletedOrPassed"
    not_applicable = "NotApplicable"


def _categories(statement: dict[str, Any]) -> list[str]:
    activities = (statement.get("context") or {}).get("contextActivities") or {}
    items = activities.get("category") or []
    if isinstance(items, dict):
        items = [items]
    return [item.get("id", "") for item in items if isinstance(item, dict)]


def _extensions(statement: dict[str, Any]) -> dict[str, Any]:
    extensions = (statement.get("context") or {}).get("extensions") or {}
    return extensions if isinstance(extensions, dict) else {}


def is_defined(statement: dict[str, Any]) -> bool:
    return CATEGORY in _categories(statement)


def is_allowed(statement: dict[str, Any]) -> bool:
    """Sent inside a cmi5 session without the cmi5 category."""
    return SESSION_ID in _extensions(statement) and not is_defined(statement)


def move_on(statement: dict[str, Any]) -> MoveOn | None:
    """The moveOn criterion a ``launched`` statement carries (the LMS writes it there)."""
    raw = _extensions(statement).get(MOVE_ON)
    try:
        return MoveOn(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def mastery_score(statement: dict[str, Any]) -> float | None:
    raw = _extensions(statement).get(MASTERY_SCORE)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def mastery_problem(statement: dict[str, Any], verb: str) -> str | None:
    """cmi5 forbids ``passed`` below the mastery score and ``failed`` at or above it."""
    mastery = mastery_score(statement)
    score = ((statement.get("result") or {}).get("score") or {}).get("scaled")
    if mastery is None or isinstance(score, bool) or not isinstance(score, int | float):
        return None
    if verb == PASSED and score < mastery:
        return f"cmi5: passed with score.scaled {score} below the masteryScore {mastery}"
    if verb == FAILED and score >= mastery:
        return f"cmi5: failed with score.scaled {score} at or above the masteryScore {mastery}"
    return None


@dataclass(frozen=True, slots=True)
class Progress:
    """What one learner has achieved in one AU within one registration."""

    completed: bool = False
    passed: bool = False

    def after(self, verb: str) -> Progress:
        return Progress(
            completed=self.completed or verb == COMPLETED, passed=self.passed or verb == PASSED
        )


def satisfied(criterion: MoveOn, progress: Progress) -> bool:
    """Whether ``progress`` meets ``criterion``. NotApplicable is met by the LMS at launch,
    without any evidence from the learner, so it never makes an AU done here."""
    if criterion is MoveOn.completed:
        return progress.completed
    if criterion is MoveOn.passed:
        return progress.passed
    if criterion is MoveOn.completed_and_passed:
        return progress.completed and progress.passed
    if criterion is MoveOn.completed_or_passed:
        return progress.completed or progress.passed
    return False
