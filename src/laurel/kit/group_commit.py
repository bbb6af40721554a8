"""Group commit: requests that arrive together are stored in one transaction.

A request that stores one thing would otherwise pay a whole transaction of its own: the write
lock, a dozen statements, the audit chain head and a commit. Requests that arrive while
another is being stored wait in a queue; the next request to run takes everything queued and
stores it in one transaction through the caller's ``store_many``, then every request gets its
own answer. Nothing is answered before its transaction commits, so an answer still means
"stored".

With one request at a time nothing waits: a request alone is stored at once. Under load the
groups grow by themselves, which is when sharing a transaction pays.

``store_many(session, actor, payloads)`` answers each payload in order, with its result or the
:class:`AppError` that refuses it alone. If it raises instead, nothing of the group was kept,
and each request is stored again on its own, so only the one at fault fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import Histogram
from sqlalchemy.orm import Session

from laurel.db import Database, conflicted, retry_conflicts
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError

P = TypeVar("P")
A = TypeVar("A")

# Large enough to absorb any burst the HTTP server's thread pool can produce at once.
MAX_GROUP = 256
LINGER_SECONDS = 0.002
"""How long a leader may wait for the requests it expects (see ``GroupCommit._lead``)."""


@dataclass(slots=True)
class _Job(Generic[P, A]):
    actor: Actor
    payload: P
    wake: threading.Event = field(default_factory=threading.Event)
    promoted: bool = False
    """Set by the previous leader: this request stores the next group."""
    done: bool = False
    answer: A | None = None
    error: BaseException | None = None


class GroupCommit(Generic[P, A]):
    """One per process, database and kind of request; thread-safe."""

    def __init__(
        self,
        database: Database,
        store_many: Callable[[Session, Actor, list[P]], Sequence[A | AppError]],
        *,
        max_group: int = MAX_GROUP,
        sizes: Histogram | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self._database = database
        self._store_many = store_many
        self._max_group = max_group
        self._sizes = sizes
        self._linger = linger
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: list[_Job[P, A]] = []
        self._running = False
        self._in_flight = 0
        """Requests submitted and not yet answered (queued, or in the group being stored)."""
        self._peak = 1
        """The most requests in flight at once since the current group was taken."""
        self.transactions = 0
        """Transactions committed so far (each one stored a group)."""
        self.conflicts = 0
        """Attempts the database aborted for a deadlock or serialization failure."""

    def submit(self, actor: Actor, payload: P) -> A:
        """Store one payload (with whatever else is waiting) and answer it, or raise its error."""
        job: _Job[P, A] = _Job(actor, payload)
        with self._lock:
            self._queue.append(job)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            leading = not self._running
            self._running = True
            self._arrived.notify()
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
        request keeps storing other people's payloads while its own answer is ready.

        Under steady load the clients whose answers just went out send their next requests
        a moment later. Rather than store a group of a few and make the rest pay a
        transaction of their own, the leader waits up to ``linger`` for as many requests as
        were in flight at once while the last group was stored (PostgreSQL's
        ``commit_delay`` is the same idea). A lone client never waits: it never had company.
        """
        with self._lock:
            wanted = min(self._peak, self._max_group)
            if len(self._queue) < wanted and self._linger > 0:
                self._arrived.wait_for(lambda: len(self._queue) >= wanted, self._linger)
            group = self._queue[: self._max_group]
            del self._queue[: self._max_group]
            # Measured afresh for the next leader: a burst that is over stops being waited for.
            self._peak = self._in_flight
        try:
            self._store(group)
        finally:
            with self._lock:
                self._in_flight -= len(group)
                if self._queue:
                    heir = self._queue[0]
                    heir.promoted = True
                    heir.wake.set()
                else:
                    self._running = False

    def _store(self, group: list[_Job[P, A]]) -> None:
        try:
            self._store_retrying(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
            else:
                # One payload broke the shared transaction and nothing of it was kept: store
                # each on its own so only that one fails.
                for job in group:
                    self._store([job])
                return
        finally:
            for job in group:
                if job.answer is None and job.error is None:
                    job.error = RuntimeError("the request was not stored")
                job.done = True
                job.wake.set()

    def _store_retrying(self, group: list[_Job[P, A]]) -> None:
        """Store the group, again from the start when PostgreSQL aborted the transaction for
        a deadlock with another writer (e.g. two processes updating the same analytics
        rollup rows in opposite orders): nothing of it was kept, and the answers are only
        given after a commit."""

        def store() -> None:
            try:
                self._store_together(group)
            except Exception as exc:
                if conflicted(exc):
                    self.conflicts += 1
                raise

        retry_conflicts(store, what=f"a group of {len(group)}")

    def _store_together(self, group: list[_Job[P, A]]) -> None:
        by_actor: dict[Actor, list[_Job[P, A]]] = {}
        for job in group:
            by_actor.setdefault(job.actor, []).append(job)
        answers: list[tuple[_Job[P, A], A | AppError]] = []
        with self._database.session() as session:
            for actor, jobs in by_actor.items():
                results = self._store_many(session, actor, [j.payload for j in jobs])
                answers.extend(zip(jobs, results, strict=True))
        self.transactions += 1
        if self._sizes is not None:
            self._sizes.observe(len(group))
        # Only now, after the commit, does anyone learn the outcome.
        for job, answer in answers:
            if isinstance(answer, AppError):
                job.error = answer
            else:
                job.answer = answer
