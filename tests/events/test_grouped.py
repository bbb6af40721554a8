"""Group commit of single events: many requests, one transaction, each its own answer."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from laurel.db import Database
from laurel.events.grouped import GroupIntake
from laurel.events.schemas import CompletionIn
from laurel.events.service import EventIdConflict, Intake
from laurel.kit.actor import Actor
from laurel.kit.group_commit import GroupCommit
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, table_counts

P = TypeVar("P")
A = TypeVar("A")


def submit_together(
    grouped: GroupCommit[P, A], actor: Actor, items: list[P]
) -> list[A | BaseException]:
    """Queue every item while the committer is busy, then let them run as one group."""
    answers: list[A | BaseException | None] = [None] * len(items)

    def send(index: int) -> None:
        try:
            answers[index] = grouped.submit(actor, items[index])
        except BaseException as exc:
            answers[index] = exc

    with grouped._lock:
        grouped._running = True  # as if another request were being stored right now
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(grouped._queue) < len(items):
        assert time.monotonic() < deadline, "requests did not queue"
        time.sleep(0.001)
    with grouped._lock:  # that request is done and hands over to the oldest waiting one
        heir = grouped._queue[0]
        heir.promoted = True
        heir.wake.set()
    for thread in threads:
        thread.join(30)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def test_queued_events_share_one_transaction(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    grouped = GroupIntake(database)
    first = completion("g-1", learner="A")
    items = [CompletionIn.model_validate(completion(f"g-{n}", learner=f"L{n}")) for n in range(8)]
    items += [
        CompletionIn.model_validate(first),  # a repeat of g-1 for learner A ...
        CompletionIn.model_validate(completion("g-1", learner="B")),  # ... and a clash
    ]
    answers = submit_together(grouped, tenant.actor, items)
    assert grouped.transactions == 1
    stored = [a for a in answers[:8] if isinstance(a, Intake)]
    assert len(stored) == 8
    assert all(len(a.rewards) == 1 and not a.replayed for a in stored)
    # g-1 first arrived for learner L0; both later bodies differ from it.
    assert isinstance(answers[8], EventIdConflict)
    assert isinstance(answers[9], EventIdConflict)
    assert table_counts(database)["completion_events"] == 8


def test_one_broken_event_does_not_sink_the_group(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    grouped = GroupIntake(database)
    good = [CompletionIn.model_validate(completion(f"ok-{n}", learner=f"L{n}")) for n in range(4)]
    # Validation would refuse a naive time; built unchecked, it fails inside the transaction.
    body: dict[str, Any] = completion("broken", learner="X")
    poison = CompletionIn.model_validate(body).model_copy(
        update={"occurred_at": datetime(2026, 1, 1, 12, 0)}  # noqa: DTZ001 - the point
    )
    answers = submit_together(grouped, tenant.actor, [*good[:2], poison, *good[2:]])
    assert isinstance(answers[2], Exception)
    assert all(isinstance(a, Intake) for i, a in enumerate(answers) if i != 2)
    # The shared transaction was rolled back whole, then each event was stored on its own.
    assert grouped.transactions == 4
    assert table_counts(database)["completion_events"] == 4


@pytest.mark.parametrize("senders", [12])
def test_parallel_requests_all_answered(
    client: TestClient, tenant: Tenant, database: Database, senders: int
) -> None:
    fixed_program(client, tenant)
    grouped = GroupIntake(database)
    results: list[Intake] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        for k in range(5):
            item = CompletionIn.model_validate(completion(f"p-{n}-{k}", learner=f"L{n}-{k}"))
            answer = grouped.submit(tenant.actor, item)
            with lock:
                results.append(answer)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == senders * 5
    assert len({r.event.id for r in results}) == senders * 5
    assert grouped.transactions <= senders * 5
    assert table_counts(database)["rewards"] == senders * 5


def test_a_group_aborted_by_a_deadlock_is_stored_again(database: Database, tenant: Tenant) -> None:
    """PostgreSQL: two committers (two processes, say) take the same two locks in opposite
    orders; the server aborts one transaction as a deadlock. Its group runs again from the
    start instead of failing its requests, and both groups end up stored once."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL: SQLite has one writer at a time by construction")
    both_hold_one = threading.Barrier(2, timeout=10)
    runs: list[str] = []

    def store_many(session: Any, actor: Actor, payloads: list[tuple[str, list[int]]]) -> list[str]:
        out = []
        for who, keys in payloads:
            runs.append(who)
            for n, key in enumerate(keys):
                # Transaction-scoped locks in PostgreSQL's lock manager: a cycle of waits
                # between them is found by its deadlock detector like one between rows.
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                if n == 0 and runs.count(who) == 1:
                    both_hold_one.wait()  # first attempts: each holds one, wants the other
            out.append(who)
        return out

    grouped = [GroupCommit(database, store_many) for _ in range(2)]
    answers: dict[str, Any] = {}

    def send(index: int, who: str, keys: list[int]) -> None:
        try:
            answers[who] = grouped[index].submit(tenant.actor, (who, keys))
        except BaseException as exc:
            answers[who] = exc

    threads = [
        threading.Thread(target=send, args=(0, "a", [7001, 7002])),
        threading.Thread(target=send, args=(1, "b", [7002, 7001])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == {"a": "a", "b": "b"}
    assert sorted(runs) in (["a", "a", "b"], ["a", "b", "b"])  # exactly one ran again
    assert grouped[0].conflicts + grouped[1].conflicts == 1
    assert grouped[0].transactions == grouped[1].transactions == 1


def _recording(
    database: Database, sizes: list[int], hold_first: threading.Event | None = None
) -> tuple[GroupCommit[int, int], threading.Event]:
    """A committer that records each group's size; the first group waits for ``hold_first``."""
    storing = threading.Event()

    def store_many(session: Any, actor: Actor, payloads: list[int]) -> list[int]:
        sizes.append(len(payloads))
        if hold_first is not None and len(sizes) == 1:
            storing.set()
            assert hold_first.wait(10)
        return list(payloads)

    return GroupCommit(database, store_many, linger=10.0), storing


def test_a_lone_client_never_waits(database: Database, tenant: Tenant) -> None:
    sizes: list[int] = []
    grouped, _ = _recording(database, sizes)
    started = time.monotonic()
    assert [grouped.submit(tenant.actor, n) for n in range(3)] == [0, 1, 2]
    assert sizes == [1, 1, 1]
    assert time.monotonic() - started < 5  # the 10 s linger was never waited out


def test_a_leader_waits_for_as_many_requests_as_were_in_flight(
    database: Database, tenant: Tenant
) -> None:
    """Closed-loop clients: the two requests that arrived while the first was stored make
    three in flight, so their leader waits for the first client's next request instead of
    storing two now and leaving that one a transaction of its own."""
    sizes: list[int] = []
    go = threading.Event()
    grouped, storing = _recording(database, sizes, hold_first=go)
    answers: dict[int, int] = {}

    def start(n: int) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: answers.update({n: grouped.submit(tenant.actor, n)})
        )
        thread.start()
        return thread

    threads = [start(1)]
    assert storing.wait(10)  # alone: stored at once
    threads += [start(2), start(3)]
    deadline = time.monotonic() + 10
    while len(grouped._queue) < 2:
        assert time.monotonic() < deadline, "requests did not queue"
        time.sleep(0.001)
    go.set()
    threads[0].join(10)
    # The first client, answered, sends its next request a moment later (a leader that did
    # not wait would have stored the two queued ones by then).
    time.sleep(0.2)
    threads.append(start(4))
    for thread in threads:
        thread.join(30)
    assert answers == {1: 1, 2: 2, 3: 3, 4: 4}
    assert sizes == [1, 3]
