"""Group commit for single events: events that arrive together are stored together.

Each request for one event would otherwise pay a whole transaction of its own: the write lock,
a dozen statements, the audit chain head and a commit. Requests that arrive while another is
being stored wait in a queue; the next request to run takes everything queued and stores it in
one transaction through :func:`service.ingest_many`, then every request gets its own answer.
Nothing is answered before its transaction commits, so an answer still means "stored".

With one request at a time nothing waits: a request alone is stored at once, as before. Under
load the groups grow by themselves, which is when sharing a transaction pays.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from laurel.db import Database
from laurel.events import service
from laurel.events.schemas import CompletionIn
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError
from laurel.metrics import INTAKE_GROUP_SIZE

# Large enough to absorb any burst the HTTP server's thread pool can produce at once.
MAX_GROUP = 256


@dataclass(slots=True)
class _Job:
    actor: Actor
    item: CompletionIn
    wake: threading.Event = field(default_factory=threading.Event)
    promoted: bool = False
    """Set by the previous leader: this request stores the next group."""
    done: bool = False
    answer: service.Intake | None = None
    error: BaseException | None = None


class GroupIntake:
    """One per process and database; thread-safe."""

    def __init__(self, database: Database, *, max_group: int = MAX_GROUP) -> None:
        self._database = database
        self._max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._running = False
        self.transactions = 0
        """Transactions committed so far (each one stored a group)."""

    def submit(self, actor: Actor, item: CompletionIn) -> service.Intake:
        """Store one event (with whatever else is waiting) and answer it, or raise its error."""
        job = _Job(actor, item)
        with self._lock:
            self._queue.append(job)
            leading = not self._running
            self._running = True
        while not job.done:
            if not leading:
                # Woken only for this request: its answer is ready, or it is to lead.
                job.wake.wait()
                job.wake.clear()
                if job.done or not job.promoted:
                    continue
            job.promoted = leading = False
            self._lead()
        if job.error is not None:
            raise job.error
        assert job.answer is not None
        return job.answer

    def _lead(self) -> None:
        """Store the next group, then hand over to the oldest request still waiting, so no
        request keeps storing other people's events while its own answer is ready."""
        with self._lock:
            group = self._queue[: self._max_group]
            del self._queue[: self._max_group]
        try:
            self._store(group)
        finally:
            with self._lock:
                if self._queue:
                    heir = self._queue[0]
                    heir.promoted = True
                    heir.wake.set()
                else:
                    self._running = False

    def _store(self, group: list[_Job]) -> None:
        try:
            self._store_together(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
            else:
                # One event broke the shared transaction and nothing of it was kept: store
                # each on its own so only that one fails.
                for job in group:
                    self._store([job])
                return
        finally:
            for job in group:
                if job.answer is None and job.error is None:
                    job.error = RuntimeError("the event was not stored")
                job.done = True
                job.wake.set()

    def _store_together(self, group: list[_Job]) -> None:
        by_actor: dict[Actor, list[_Job]] = {}
        for job in group:
            by_actor.setdefault(job.actor, []).append(job)
        answers: list[tuple[_Job, service.Intake | AppError]] = []
        with self._database.session() as session:
            for actor, jobs in by_actor.items():
                results = service.ingest_many(session, actor, [j.item for j in jobs])
                answers.extend(zip(jobs, results, strict=True))
        self.transactions += 1
        INTAKE_GROUP_SIZE.observe(len(group))
        # Only now, after the commit, does anyone learn the outcome.
        for job, answer in answers:
            if isinstance(answer, AppError):
                job.error = answer
            else:
                job.answer = answer
