"""What one valid statement means to Laurel: which learner, which course, which outcome.

Learner external ids, one form per xAPI identifier (stable: the same agent always maps to the
same learner, whichever client sent it):

| actor identifier              | learner ``external_id``                        |
|-------------------------------|------------------------------------------------|
| ``mbox: mailto:Ana@x.com``    | ``mbox:ana@x.com`` (lower case; also the email) |
| ``mbox_sha1sum``              | ``sha1:<40 hex digits, lower case>``            |
| ``account{homePage, name}``   | ``account:<homePage>|<name>``                   |
| ``openid``                    | ``openid:<url>``                                |

An id longer than 200 characters becomes ``<form>-sha256:<hex digest of the long id>``.
Groups are never attributed to a learner.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from laurel.courses.schemas import CourseRef
from laurel.events.connectors.xapi import cmi5
from laurel.events.connectors.xapi.validation import parse_timestamp
from laurel.events.models import Outcome
from laurel.kit.clock import sender_time
from laurel.learners.schemas import LearnerRef

_MAX_ID = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

REGISTERED = "http://adlnet.gov/expapi/verbs/registered"
_IN_PROGRESS_VERBS = frozenset(
    {
        "http://adlnet.gov/expapi/verbs/attempted",
        "http://adlnet.gov/expapi/verbs/launched",
        "http://adlnet.gov/expapi/verbs/initialized",
        "http://adlnet.gov/expapi/verbs/progressed",
        "http://adlnet.gov/expapi/verbs/resumed",
    }
)
_PREFERRED_LANGUAGES = ("en-US", "en", "en-GB", "und")


@dataclass(frozen=True, slots=True)
class Reading:
    """A statement as Laurel reads it. ``outcome`` None means: stored, no completion event."""

    learner: LearnerRef | None
    course: CourseRef | None
    outcome: Outcome | None
    score: float | None
    occurred_at: datetime
    verb: str
    note: str
    cmi5_au: bool = False
    """A cmi5 defined completed/passed on an AU: moveOn decides its outcome (see service)."""


def _bounded(prefix: str, value: str) -> str:
    key = f"{prefix}:{value}"
    if len(key) <= _MAX_ID:
        return key
    return f"{prefix}-sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def learner_key(actor: Any) -> str | None:
    if not isinstance(actor, dict) or actor.get("objectType", "Agent") != "Agent":
        return None
    if "mbox" in actor:
        return _bounded("mbox", actor["mbox"].removeprefix("mailto:").lower())
    if "mbox_sha1sum" in actor:
        return _bounded("sha1", actor["mbox_sha1sum"].lower())
    if "account" in actor:
        account = actor["account"]
        return _bounded("account", f"{account['homePage']}|{account['name']}")
    if "openid" in actor:
        return _bounded("openid", actor["openid"])
    return None


def learner_of(actor: Any) -> LearnerRef | None:
    key = learner_key(actor)
    if key is None:
        return None
    email = None
    if "mbox" in actor:
        address = actor["mbox"].removeprefix("mailto:").lower()
        email = address if _EMAIL.match(address) and len(address) <= 320 else None
    name = actor.get("name")
    return LearnerRef(
        external_id=key,
        email=email,
        name=name[:200] if isinstance(name, str) and name.strip() else None,
    )


def localized(names: Any) -> str | None:
    if not isinstance(names, dict) or not names:
        return None
    for language in _PREFERRED_LANGUAGES:
        if isinstance(names.get(language), str):
            return str(names[language])
    first = next(iter(names.values()))
    return first if isinstance(first, str) else None


def _grouping(statement: dict[str, Any]) -> list[dict[str, Any]]:
    activities = (statement.get("context") or {}).get("contextActivities") or {}
    items = activities.get("grouping") or []
    return [i for i in (items if isinstance(items, list) else [items]) if isinstance(i, dict)]


def course_of(statement: dict[str, Any], *, publisher_id: bool) -> CourseRef | None:
    """The activity as a course. For cmi5 defined statements the course is the publisher's id
    of the AU or course, which the LMS puts in ``grouping``: the same in every LMS that runs
    the package, unlike the LMS's own activity id in ``object``."""
    target = statement.get("object") or {}
    if target.get("objectType", "Activity") != "Activity":
        return None
    activity = target
    if publisher_id:
        others = [g for g in _grouping(statement) if g.get("id") != target.get("id")]
        if others:
            activity = others[0]
    definition = activity.get("definition") or target.get("definition") or {}
    title = localized(definition.get("name"))
    return CourseRef(
        external_id=_bounded("activity", activity["id"]).removeprefix("activity:"),
        title=title.strip()[:300] if title else None,
    )


def score_of(result: Any) -> float | None:
    """``scaled`` when given, else ``(raw - min) / (max - min)``; negative scores count as 0."""
    score = (result or {}).get("score") if isinstance(result, dict) else None
    if not isinstance(score, dict):
        return None
    scaled = score.get("scaled")
    if scaled is None and score.get("raw") is not None and score.get("max") is not None:
        low = score.get("min", 0)
        if score["max"] > low:
            scaled = (score["raw"] - low) / (score["max"] - low)
    if scaled is None:
        return None
    return float(min(max(scaled, 0), 1))


def read(statement: dict[str, Any], *, stored_at: datetime) -> Reading:
    """Decide what a validated, non-voiding statement means (cmi5 AU results: see service)."""
    verb = statement["verb"]["id"]
    result = statement.get("result") or {}
    timestamp = statement.get("timestamp")
    # xAPI only says a timestamp SHOULD not be in the future: a clock running ahead is the
    # sender's, and the LRS's own time stands in.
    occurred_at, ahead = sender_time(
        parse_timestamp(timestamp) if timestamp else stored_at, stored_at
    )
    skew = (
        f" (timestamp {timestamp} is ahead of the LRS clock: the stored time is used)"
        if ahead
        else ""
    )
    learner = learner_of(statement["actor"])
    defined = cmi5.is_defined(statement)
    course = course_of(statement, publisher_id=defined)

    def reading(outcome: Outcome | None, note: str, *, au: bool = False) -> Reading:
        return Reading(
            learner=learner,
            course=course,
            outcome=outcome,
            score=score_of(result),
            occurred_at=occurred_at,
            verb=verb,
            note=note + skew,
            cmi5_au=au,
        )

    if learner is None:
        return reading(None, "the actor is a Group: not attributed to one learner")
    if course is None:
        return reading(None, "the object is not an Activity")
    if defined:
        if verb == cmi5.SATISFIED:
            return reading(Outcome.completed, "cmi5 satisfied: the LMS says moveOn is met")
        if verb == cmi5.FAILED:
            return reading(Outcome.failed, "cmi5 failed")
        if verb in {cmi5.COMPLETED, cmi5.PASSED}:
            return reading(Outcome.in_progress, "cmi5 AU result", au=True)
        if verb in _IN_PROGRESS_VERBS:
            return reading(Outcome.in_progress, "cmi5 session activity")
        return reading(None, f"cmi5 verb {verb} does not describe a result")
    if cmi5.is_allowed(statement):
        if verb == cmi5.FAILED:
            return reading(Outcome.failed, "cmi5 allowed failed: does not drive moveOn")
        if verb in {cmi5.COMPLETED, cmi5.PASSED, cmi5.SATISFIED}:
            return reading(
                Outcome.in_progress, "cmi5 allowed statement (no cmi5 category): not moveOn"
            )
        return reading(None, f"cmi5 allowed verb {verb} does not describe a result")
    if verb in {cmi5.COMPLETED, cmi5.PASSED} and result.get("success") is False:
        # result.success says whether the attempt succeeded (xAPI Data 2.4.5): finished but
        # not passed is a failure, whatever the verb.
        return reading(Outcome.failed, f"{verb.rsplit('/', 1)[-1]} with result.success false")
    if verb == cmi5.COMPLETED:
        if result.get("completion") is False:
            return reading(Outcome.in_progress, "completed with result.completion false")
        return reading(Outcome.completed, "completed")
    if verb == cmi5.PASSED:
        return reading(Outcome.passed, "passed")
    if verb == cmi5.FAILED:
        return reading(Outcome.failed, "failed")
    if verb == REGISTERED:
        return reading(Outcome.enrolled, "registered")
    if verb in _IN_PROGRESS_VERBS:
        return reading(Outcome.in_progress, "learning activity in progress")
    return reading(None, f"verb {verb} does not describe a completion")
