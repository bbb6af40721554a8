"""Group commit for single events: events that arrive together are stored together
(:mod:`laurel.kit.group_commit`), decided in one set-based pass of :func:`service.ingest_many`.
"""

from __future__ import annotations

from laurel.db import Database
from laurel.events import service
from laurel.events.schemas import CompletionIn
from laurel.kit.group_commit import MAX_GROUP, GroupCommit
from laurel.metrics import INTAKE_GROUP_SIZE


class GroupIntake(GroupCommit[CompletionIn, service.Intake]):
    """One per process and database; thread-safe."""

    def __init__(self, database: Database, *, max_group: int = MAX_GROUP) -> None:
        super().__init__(
            database, service.ingest_many, max_group=max_group, sizes=INTAKE_GROUP_SIZE
        )
