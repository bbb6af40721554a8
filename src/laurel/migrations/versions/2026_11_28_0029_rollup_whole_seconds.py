"""analytics rollups on SQLite: date functions read a timestamp's whole seconds, truncated

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-26 19:00:00

SQLite stores a timestamp as ``YYYY-MM-DD HH:MM:SS.ffffff`` and its date functions read that
text to the millisecond, rounding: ``unixepoch('… 23:59:59.999600')`` is the next second. The
SQLite triggers and backfills of 0024 (whole days to complete, from ``unixepoch``) and 0028
(delivery latency in milliseconds, the same) therefore counted a time whose fraction is
.9995 or more one second late: about one duration in 2,000 was a second off, which moves a
latency by 1,000 ms and a completion across a whole-day boundary now and then.

On SQLite this revision drops those triggers, re-creates them with every timestamp a date
function reads cut to its whole seconds (``substr(x, 1, 19)``; the microseconds already came
from ``substr(x, 21, 6)``), and recomputes ``analytics_cohorts``, ``analytics_daily`` and
``analytics_latency`` from their rows with the same corrected statements. The statements are
0024's and 0028's own (their modules, as Alembic loaded them), not copies: only the argument
of each date function changes. The downgrade puts back the released triggers and recomputes the
rollups as they counted. PostgreSQL's ``timestamptz`` arithmetic is exact: nothing changes there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from types import ModuleType

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLLUPS = ("analytics_cohorts", "analytics_daily", "analytics_latency")
# A date function reading a stored timestamp column (``NEW.completed_at``, ``p.enrolled_at``):
# all 0024 and 0028 apply to one are ``unixepoch(x)`` and ``strftime('%Y-%m', x)``.
_READ = re.compile(r"(unixepoch\(|strftime\('%Y-%m', )(\w+\.\w+)\)")
# What must not be left: a date function of anything but whole seconds.
_ROUNDING = re.compile(
    r"unixepoch\((?!substr\()|strftime\('[^']*', (?!substr\()|julianday\(|datetime\(|\bdate\("
)


def _whole_seconds(statement: str) -> str:
    """``statement`` with each timestamp a date function reads cut to its whole seconds."""
    corrected = _READ.sub(r"\1substr(\2, 1, 19))", statement)
    left = _ROUNDING.search(corrected)
    if left:
        raise RuntimeError(f"a date function of a full timestamp is left: {left.group(0)!r}")
    return corrected


def _module(name: str) -> ModuleType:
    script = op.get_context().script
    if script is None:
        raise RuntimeError("migration 0029 runs through Alembic's script directory only")
    found = script.get_revision(name)
    if found is None:
        raise RuntimeError(f"migration {name} is missing")
    return found.module


def _recreate(edit: Callable[[str], str]) -> None:
    """SQLite: 0024's and 0028's triggers and rollup rows, their statements passed through
    ``edit``. Runs in the migration's transaction, so no write is counted twice or missed."""
    if op.get_bind().dialect.name != "sqlite":
        return
    cohorts, daily = _module("0024"), _module("0028")
    for statement in [*daily._SQLITE_DOWN, *cohorts._SQLITE_DOWN]:
        op.execute(statement)
    for table in _ROLLUPS:
        op.execute(f"DELETE FROM {table}")  # noqa: S608 - this file's constants
    for statement in [
        *cohorts._sql(False, cohorts._EVERY_PAIR, 1),
        *daily._backfill(False),
        *cohorts._sqlite(),
        *daily._sqlite(),
    ]:
        op.execute(edit(statement))


def upgrade() -> None:
    _recreate(_whole_seconds)


def downgrade() -> None:
    _recreate(lambda statement: statement)
