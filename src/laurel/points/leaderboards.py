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
from functools import cache
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, func, or_, select
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


_TOTALS: Table = PointsPeriodTotal.__table__  # type: ignore[assignment]
_PREFS: Table = LearnerPreference.__table__  # type: ignore[assignment]


# Built once with bind parameters: building a statement costs more than running it.
@cache
def _board_sql(department: bool) -> Select[Any]:
    """The board's rows (learner, points, name choice) for one period and program key, opted-out
    learners left out; read in points order it walks ``ix_points_period_totals_board``."""
    t, p = _TOTALS.c, _PREFS.c
    query = (
        select(t.learner_id, t.earned, p.show_name)
        .select_from(
            _TOTALS.outerjoin(
                _PREFS,
                and_(
                    p.organization_id == t.organization_id,
                    p.livemode == t.livemode,
                    p.learner_id == t.learner_id,
                ),
            )
        )
        .where(
            t.organization_id == bindparam("_org"),
            t.livemode == bindparam("_live"),
            t.period == bindparam("_period"),
            t.program_id == bindparam("_program"),
            t.earned > 0,
            or_(p.leaderboard_opt_out.is_(None), p.leaderboard_opt_out.is_(False)),
        )
    )
    if department:
        query = query.where(t.learner_id.in_(learners.in_department()))
    return query


@cache
def _top_sql(department: bool) -> Select[Any]:
    return (
        _board_sql(department)
        .order_by(_TOTALS.c.earned.desc(), _TOTALS.c.learner_id.desc())
        .limit(bindparam("_limit"))
    )


@cache
def _place_sql(department: bool) -> Select[Any]:
    """One learner's points, how many are ahead, and their choices, in one statement.

    "Ahead" counts the rows above the learner's points in the board index (an index-only
    range count), then takes away the few opted-out learners among them, instead of joining
    every row to the preferences.
    """
    t, p = _TOTALS.c, _PREFS.c
    board = [
        t.organization_id == bindparam("_org"),
        t.livemode == bindparam("_live"),
        t.period == bindparam("_period"),
        t.program_id == bindparam("_program"),
    ]
    mine = select(t.earned).where(*board, t.learner_id == bindparam("_viewer")).scalar_subquery()
    above = [*board, t.earned > mine]
    if department:
        above.append(t.learner_id.in_(learners.in_department()))
    ahead = select(func.count()).select_from(_TOTALS).where(*above).scalar_subquery()
    opted_out = (
        select(func.count())
        .select_from(
            _TOTALS.join(
                _PREFS,
                and_(
                    p.organization_id == t.organization_id,
                    p.livemode == t.livemode,
                    p.learner_id == t.learner_id,
                ),
            )
        )
        .where(*above, p.leaderboard_opt_out.is_(True))
        .scalar_subquery()
    )
    own = [
        p.organization_id == bindparam("_org"),
        p.livemode == bindparam("_live"),
        p.learner_id == bindparam("_viewer"),
    ]
    show = select(p.show_name).where(*own).scalar_subquery()
    out = select(p.leaderboard_opt_out).where(*own).scalar_subquery()
    return select(mine, ahead, opted_out, show, out)


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
    """The top ``limit`` of a board, names shown as privacy allows, and the viewer's place.

    A constant number of small statements whatever the size of the ledger: the top rows (one
    index range, walked in order), the viewer's place when outside the top, the names of those
    shown, the organization's privacy countries.
    """
    key = period_key(period)
    if board is BoardScope.department and not department:
        raise field_error("department", "is required for a department board")
    if board is BoardScope.program and program_id is None:
        raise field_error("program_id", "is required for a program board")
    by_department = board is BoardScope.department
    params: dict[str, Any] = {
        "_org": scope.organization_id,
        "_live": scope.livemode,
        "_period": key,
        "_program": program_id if board is BoardScope.program else ALL_PROGRAMS,
        "_limit": limit,
    }
    if by_department:
        params |= {
            "_dept_org": scope.organization_id,
            "_dept_live": scope.livemode,
            "_department": department,
        }
    top = [tuple(row) for row in session.execute(_top_sql(by_department), params)]
    choices = {row[0]: row[2] for row in top}
    mine: tuple[int, int] | None = None
    if viewer is not None and viewer not in choices:
        points, ahead, opted_out, show, out = session.execute(
            _place_sql(by_department), params | {"_viewer": viewer}
        ).one()
        if points is not None and points > 0 and not out:
            mine = (int(ahead) - int(opted_out) + 1, int(points))
            choices[viewer] = show
    people = learners.identities(session, scope.organization_id, set(choices))
    configured = setup.private_countries(session, scope.organization_id)
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
    for n, (learner_id, points, _show) in enumerate(top, start=1):
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
