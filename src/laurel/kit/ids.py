"""Time-ordered UUIDs (version 7) so primary keys index in about insertion order and page stably.

Ids sort by the millisecond they were made in; within one millisecond their order is random,
so nothing may rely on ids for the order of events inside a transaction.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0
# Ids are keys, not secrets (anything secret, such as a reward link, carries its own token from
# `secrets`), so the random bits come from a fast generator seeded by the OS, re-seeded in
# every forked child so two processes never share a sequence. A batch of events needs
# thousands of ids; one system call each was measurable.
_random = random.Random(os.urandom(32))  # noqa: S311 - keys, not secrets (above)
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def uuid7() -> uuid.UUID:
    global _last  # noqa: PLW0603 - one monotonic counter per process is the point
    with _lock:
        ms = time.time_ns() // 1_000_000
        # The millisecond never goes back in a process, even when the clock steps back.
        ms = max(ms, _last)
        rand = _random.getrandbits(74)
        _last = ms
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & _LOW62)
    return _from_int(value)


_LOW62 = (1 << 62) - 1


def _from_int(value: int) -> uuid.UUID:
    # uuid.UUID(int=...) re-validates in pure Python; the value is built correct above.
    made = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _UNKNOWN)
    return made


_new = uuid.UUID.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown  # an enum member lookup per id was measurable
