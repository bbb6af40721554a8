"""Badges: criteria over a learner's completions, awarded automatically.

Criteria (``Badge.criteria``):

- ``{"kind": "all_of_type", "course_type": "compliance", "period": "year"}``: every course of the
  type (that the organization has) completed in the calendar year (or ``"ever"``);
- ``{"kind": "count", "count": 5, "course_type": "certification", "tags": [...],
  "period": "ever"}``: that many distinct matching courses completed (type and tags optional).

``evaluate`` judges a set of learners in a constant number of statements (badges, completions,
courses, one insert); an award is unique per badge, learner and period, so evaluating again, or
two workers at once, awards once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.courses import service as courses
from laurel.courses.models import CourseType
from laurel.events import service as events
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, Invalid, NotFound
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_rows
from laurel.points.ledger import Scope
from laurel.points.models import Badge, BadgeAward

KINDS = ("all_of_type", "count")
PERIODS = ("year", "ever")
_AWARDS: Table = BadgeAward.__table__  # type: ignore[assignment]


class BadgeNotFound(NotFound):
    code = "badge_not_found"


def validate_criteria(criteria: dict[str, Any]) -> dict[str, Any]:
    problems: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        problems.append({"field": f"criteria.{field}", "message": message, "type": "value_error"})

    kind = criteria.get("kind")
    types = [t.value for t in CourseType]
    if kind not in KINDS:
        bad("kind", f"use one of {', '.join(KINDS)}")
    if criteria.get("period", "ever") not in PERIODS:
        bad("period", f"use one of {', '.join(PERIODS)}")
    course_type = criteria.get("course_type")
    if course_type is not None and course_type not in types:
        bad("course_type", f"unknown course type; use one of {', '.join(types)}")
    if kind == "all_of_type" and course_type is None:
        bad("course_type", "is required for all_of_type")
    if kind == "count":
        count = criteria.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            bad("count", "must be a whole number, 1 or more")
    tags = criteria.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        bad("tags", "must be a list of strings")
    if problems:
        raise Invalid(problems)
    return {"period": "ever", **criteria}


def create_badge(
    session: Session,
    actor: Actor,
    *,
    key: str,
    name: str,
    description: str,
    criteria: dict[str, Any],
    image_url: str | None = None,
) -> Badge:
    criteria = validate_criteria(criteria)
    exists = session.scalar(
        select(Badge.id).where(Badge.organization_id == actor.organization_id, Badge.key == key)
    )
    if exists is not None:
        raise Conflict(f"badge {key!r} already exists ({exists})")
    badge = Badge(
        organization_id=actor.organization_id,
        key=key,
        name=name,
        description=description,
        criteria=criteria,
        image_url=image_url,
    )
    session.add(badge)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:badge:create",
        target_type="badge",
        target_id=badge.id,
        details={"key": key, "criteria": criteria},
    )
    return badge


def list_badges(session: Session, organization_id: uuid.UUID) -> list[Badge]:
    return list(
        session.scalars(
            select(Badge).where(Badge.organization_id == organization_id).order_by(Badge.key)
        )
    )


def evaluate(
    session: Session,
    scope: Scope,
    learner_ids: Sequence[uuid.UUID],
    *,
    now: datetime | None = None,
    actor: str = "worker",
) -> list[BadgeAward]:
    """Award every badge these learners now meet; answers the new awards."""
    badges = [b for b in list_badges(session, scope.organization_id) if b.active]
    if not badges or not learner_ids:
        return []
    moment = now or utcnow()
    done = events.completions_of(
        session, scope.organization_id, livemode=scope.livemode, learner_ids=learner_ids
    )
    info = courses.get_many(session, scope.organization_id, {c.course_id for c in done})
    wanted_types = sorted(
        {b.criteria["course_type"] for b in badges if b.criteria.get("kind") == "all_of_type"}
    )
    catalog = courses.ids_by_type(session, scope.organization_id, scope.livemode, wanted_types)
    by_learner: dict[uuid.UUID, list[events.Completion]] = {}
    for completion in done:
        by_learner.setdefault(completion.learner_id, []).append(completion)
    rows: list[dict[str, Any]] = []
    for learner_id in dict.fromkeys(learner_ids):
        mine = by_learner.get(learner_id, [])
        for badge in badges:
            met = _meets(badge.criteria, mine, info, catalog, moment)
            if met is None:
                continue
            period, evidence = met
            rows.append(
                {
                    "id": uuid7(),
                    "organization_id": scope.organization_id,
                    "livemode": scope.livemode,
                    "badge_id": badge.id,
                    "learner_id": learner_id,
                    "period": period,
                    "evidence": evidence,
                    "awarded_at": moment,
                    "created_at": moment,
                }
            )
    inserted = insert_rows(
        session, _AWARDS, rows, ["organization_id", "livemode", "badge_id", "learner_id", "period"]
    )
    keys = {b.id: b.key for b in badges}
    for row in rows:
        if row["id"] in inserted:
            audit.record(
                session,
                organization_id=scope.organization_id,
                actor=actor,
                action="points:badge:award",
                target_type="learner",
                target_id=row["learner_id"],
                details={"badge": keys[row["badge_id"]], "period": row["period"]},
            )
    if not inserted:
        return []
    return list(session.scalars(select(BadgeAward).where(BadgeAward.id.in_(sorted(inserted)))))


def _meets(
    criteria: dict[str, Any],
    completions: list[events.Completion],
    info: dict[uuid.UUID, Any],
    catalog: dict[str, set[uuid.UUID]],
    now: datetime,
) -> tuple[str, dict[str, Any]] | None:
    """(period, evidence) when the completions meet the criteria, else None."""
    period = "ever"
    if criteria.get("period") == "year":
        period = str(now.year)
        completions = [c for c in completions if c.occurred_at.year == now.year]
    course_type = criteria.get("course_type")
    tags = set(criteria.get("tags") or [])
    matching = {
        c.course_id
        for c in completions
        if c.course_id in info
        and (course_type is None or info[c.course_id].type == course_type)
        and (not tags or tags & set(info[c.course_id].tags or []))
    }
    if criteria["kind"] == "all_of_type":
        required = catalog.get(course_type or "", set())
        if not required or not required <= matching:
            return None
        chosen = required
    else:
        if len(matching) < int(criteria["count"]):
            return None
        chosen = matching
    names = sorted(info[c].external_id for c in chosen)
    return period, {"courses": names}


def awards_of(
    session: Session, scope: Scope, learner_id: uuid.UUID
) -> list[tuple[BadgeAward, Badge]]:
    rows = session.execute(
        select(BadgeAward, Badge)
        .join(Badge, Badge.id == BadgeAward.badge_id)
        .where(
            BadgeAward.organization_id == scope.organization_id,
            BadgeAward.livemode == scope.livemode,
            BadgeAward.learner_id == learner_id,
        )
        .order_by(BadgeAward.awarded_at.desc())
    )
    return [(award, badge) for award, badge in rows]


def get_award(session: Session, scope: Scope, award_id: uuid.UUID) -> tuple[BadgeAward, Badge]:
    row = session.execute(
        select(BadgeAward, Badge)
        .join(Badge, Badge.id == BadgeAward.badge_id)
        .where(
            BadgeAward.organization_id == scope.organization_id,
            BadgeAward.livemode == scope.livemode,
            BadgeAward.id == award_id,
        )
    ).first()
    if row is None:
        raise BadgeNotFound(f"no badge award {award_id}")
    return row[0], row[1]
