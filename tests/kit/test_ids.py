"""uuid7: version 7 layout, unique, time-ordered, and never shared by a forked child."""

from __future__ import annotations

import os
import time
import uuid

from laurel.kit.ids import uuid7


def test_layout_and_uniqueness() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert all(uuid.UUID(str(i)) == i for i in ids[:100])
    stamp = ids[0].int >> 80
    assert abs(stamp - time.time_ns() // 1_000_000) < 60_000


def test_later_milliseconds_sort_after() -> None:
    first = uuid7()
    time.sleep(0.002)
    assert uuid7() > first


def test_forked_child_draws_other_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id's random bits and leave at once
        os.write(write, str(uuid7().int & ((1 << 74) - 1)).encode())
        os._exit(0)
    os.close(write)
    mine = uuid7().int & ((1 << 74) - 1)
    theirs = int(os.read(read, 100))
    os.waitpid(pid, 0)
    assert theirs != mine
