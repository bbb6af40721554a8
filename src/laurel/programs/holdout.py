"""Control groups: a program may hold out a share of its eligible learners, never paid.

Assignment is deterministic (a hash of program and learner, so anyone can recompute it) and
recorded the first time the learner is seen for the program, so a later change of the share
never moves a learner from one group to the other: the comparison stays honest. The share is
part of the program's settings (``holdout_bps``), shown wherever the program is.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_rows
from laurel.programs.models import HoldoutAssignment

BUCKETS = 10_000
"""Shares are in basis points: 1,000 = 10 % of eligible learners held out."""
MAX_SHARE_BPS = 5_000

_TABLE: Table = HoldoutAssignment.__table__  # type: ignore[assignment]


def bucket(program_id: uuid.UUID, learner_id: uuid.UUID) -> int:
    digest = hashlib.sha256(b"laurel/holdout\x00" + program_id.bytes + learner_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_control(program_id: uuid.UUID, learner_id: uuid.UUID, share_bps: int) -> bool:
    return share_bps > 0 and bucket(program_id, learner_id) < share_bps


@dataclass(frozen=True, slots=True)
class Candidate:
    program_id: uuid.UUID
    learner_id: uuid.UUID
    share_bps: int


def assign_many(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    candidates: Iterable[Candidate],
) -> dict[tuple[uuid.UUID, uuid.UUID], bool]:
    """(program, learner) -> in the control group; recorded on first sight, then kept."""
    wanted = {(c.program_id, c.learner_id): c.share_bps for c in candidates}
    if not wanted:
        return {}
    groups = _recorded(session, organization_id, list(wanted))
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": uuid7(),
            "organization_id": organization_id,
            "livemode": livemode,
            "program_id": program_id,
            "learner_id": learner_id,
            "control": in_control(program_id, learner_id, share),
            "share_bps": share,
            "assigned_at": now,
            "created_at": now,
        }
        for (program_id, learner_id), share in wanted.items()
        if (program_id, learner_id) not in groups
    ]
    if rows:
        inserted = insert_rows(session, _TABLE, rows, ("program_id", "learner_id"))
        for row in rows:
            if row["id"] in inserted:
                groups[(row["program_id"], row["learner_id"])] = row["control"]
        lost = [k for k in wanted if k not in groups]
        if lost:  # a concurrent intake recorded them first: its answer stands
            groups.update(_recorded(session, organization_id, lost))
    return groups


def _recorded(
    session: Session, organization_id: uuid.UUID, keys: list[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], bool]:
    found: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}
    programs = sorted({p for p, _ in keys})
    learners = sorted({learner for _, learner in keys})
    for part in chunks(learners):
        for program_id, learner_id, control in session.execute(
            _recorded_sql(), {"_org": organization_id, "_programs": programs, "_learners": part}
        ):
            found[(program_id, learner_id)] = control
    asked = set(keys)
    return {k: v for k, v in found.items() if k in asked}


@cache
def _recorded_sql() -> Any:
    # Built on first use, once every table's column types are resolved.
    return select(_TABLE.c.program_id, _TABLE.c.learner_id, _TABLE.c.control).where(
        _TABLE.c.organization_id == bindparam("_org"),
        _TABLE.c.program_id.in_(bindparam("_programs", expanding=True)),
        _TABLE.c.learner_id.in_(bindparam("_learners", expanding=True)),
    )


def groups_for(
    session: Session, organization_id: uuid.UUID, program_id: uuid.UUID
) -> dict[uuid.UUID, bool]:
    """Every recorded assignment of a program: learner -> in the control group."""
    rows = session.execute(
        select(HoldoutAssignment.learner_id, HoldoutAssignment.control).where(
            HoldoutAssignment.organization_id == organization_id,
            HoldoutAssignment.program_id == program_id,
        )
    )
    return {learner_id: bool(control) for learner_id, control in rows}
