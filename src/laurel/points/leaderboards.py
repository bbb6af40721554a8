"""Leaderboards: points earned in a period, by organization, department or program.

They read the monthly totals kept with every posting (``points_period_totals``), never the
entries: a board for a year over a million entries reads at most twelve rows per learner.
Learners who opted out are left out. Names are hidden where the jurisdiction expects it:
learners in the EU/EEA (or the organization's own list) appear as initials unless they chose
to show their name; anyone may choose to hide theirs.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.learners import service as learners
from laurel.points import setup
from laurel.points.ledger import ALL_PROGRAMS, Scope
from laurel.points.models import LearnerPreference, PointsPeriodTotal

# EU member states and the other EEA countries (GDPR applies), plus the UK and Switzerland,
# whose data-protection laws are read the same way for a workplace ranking.
PRIVATE_BY_DEFAULT = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
        "GB",
        "CH",
    ]
)
_PERIOD = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])))?$")


class BoardScope(StrEnum):
    organization = "organization"
    department = "department"
    program = "program"


def period_key(period: str) -> str:
    """``2026``, ``2026-Q4`` or ``2026-11`` as stored (quarters upper-case)."""
    found = _PERIOD.match(period.strip().upper())
    if not found:
        raise field_error("period", "use a year (2026), a quarter (2026-Q4) or a month (2026-11)")
    return period.strip().upper()


@dataclass(frozen=True, slots=True)
class Place:
    rank: int
    learner_id: uuid.UUID
    name: str
    points: int
    you: bool = False


@dataclass(frozen=True, slots=True)
class Board:
    scope: BoardScope
    period: str
    places: list[Place]
    you: Place | None
    """The viewing learner's own place, also when outside the top."""


def display_name(
    name: str | None,
    country: str | None,
    learner_id: uuid.UUID,
    show: bool | None,
    private: frozenset[str],
) -> str:
    hidden = show is False or (show is None and (country or "").upper() in private)
    if name and not hidden:
        return name
    if name:
        return " ".join(part[0].upper() + "." for part in name.split() if part)
    # No name on record: a stable pseudonym, not the id itself.
    return "Learner " + hashlib.sha256(learner_id.bytes).hexdigest()[:6].upper()


def leaderboard(
    session: Session,
    scope: Scope,
    *,
    board: BoardScope,
    period: str,
    department: str | None = None,
    program_id: uuid.UUID | None = None,
    limit: int = 10,
    viewer: uuid.UUID | None = None,
) -> Board:
    key = period_key(period)
    if board is BoardScope.department and not department:
        raise field_error("department", "is required for a department board")
    if board is BoardScope.program and program_id is None:
        raise field_error("program_id", "is required for a program board")
    totals = PointsPeriodTotal
    prefs = LearnerPreference
    query = (
        select(totals.learner_id, totals.earned.label("points"))
        .outerjoin(
            prefs,
            and_(
                prefs.organization_id == totals.organization_id,
                prefs.livemode == totals.livemode,
                prefs.learner_id == totals.learner_id,
            ),
        )
        .where(
            totals.organization_id == scope.organization_id,
            totals.livemode == scope.livemode,
            totals.period == key,
            totals.program_id == (program_id if board is BoardScope.program else ALL_PROGRAMS),
            totals.earned > 0,
            or_(prefs.leaderboard_opt_out.is_(None), prefs.leaderboard_opt_out.is_(False)),
        )
    )
    if board is BoardScope.department:
        assert department is not None
        query = query.where(
            totals.learner_id.in_(
                learners.in_department(scope.organization_id, scope.livemode, department)
            )
        )
    # Walks the board index backwards: the top rows come first, nothing is summed or sorted.
    top = session.execute(
        query.order_by(totals.earned.desc(), totals.learner_id.desc()).limit(limit)
    ).all()
    mine: tuple[int, int] | None = None
    if viewer is not None and viewer not in {row[0] for row in top}:
        own = session.execute(query.where(totals.learner_id == viewer)).first()
        if own is not None:
            sub = query.subquery()
            ahead = session.scalar(select(func.count()).where(sub.c.points > own[1])) or 0
            mine = (int(ahead) + 1, int(own[1]))
    ids = {row[0] for row in top} | ({viewer} if mine and viewer else set())
    people = learners.get_many(session, scope.organization_id, ids)
    choices = (
        {
            p.learner_id: p.show_name
            for p in session.scalars(
                select(prefs).where(
                    prefs.organization_id == scope.organization_id,
                    prefs.livemode == scope.livemode,
                    prefs.learner_id.in_(ids),
                )
            )
        }
        if ids
        else {}
    )
    configured = setup.get(session, scope.organization_id).private_countries
    private = frozenset(c.upper() for c in configured) if configured else PRIVATE_BY_DEFAULT

    def name_of(learner_id: uuid.UUID) -> str:
        person = people.get(learner_id)
        return display_name(
            person.name if person else None,
            person.country if person else None,
            learner_id,
            choices.get(learner_id),
            private,
        )

    places = []
    rank = 0
    previous: int | None = None
    for n, (learner_id, points) in enumerate(top, start=1):
        if points != previous:
            rank, previous = n, int(points)
        places.append(
            Place(rank, learner_id, name_of(learner_id), int(points), learner_id == viewer)
        )
    you = next((p for p in places if p.you), None)
    if mine is not None and viewer is not None:
        you = Place(mine[0], viewer, name_of(viewer), mine[1], True)
    return Board(board, key, places, you)


def set_preference(
    session: Session,
    actor: Actor,
    learner_id: uuid.UUID,
    *,
    leaderboard_opt_out: bool | None = None,
    show_name: bool | None = None,
    clear_show_name: bool = False,
) -> LearnerPreference:
    learners.get(session, actor, learner_id)
    pref = session.scalar(
        select(LearnerPreference).where(
            LearnerPreference.organization_id == actor.organization_id,
            LearnerPreference.livemode == actor.livemode,
            LearnerPreference.learner_id == learner_id,
        )
    )
    if pref is None:
        pref = LearnerPreference(
            organization_id=actor.organization_id,
            livemode=actor.livemode,
            learner_id=learner_id,
            leaderboard_opt_out=False,
        )
        session.add(pref)
    if leaderboard_opt_out is not None:
        pref.leaderboard_opt_out = leaderboard_opt_out
    if show_name is not None or clear_show_name:
        pref.show_name = show_name
    pref.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:preference:update",
        target_type="learner",
        target_id=learner_id,
        details={"leaderboard_opt_out": pref.leaderboard_opt_out, "show_name": pref.show_name},
    )
    return pref
