"""Time-ordered UUIDs (version 7) so primary keys index in insertion order and page stably."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def uuid7() -> uuid.UUID:
    global _last  # noqa: PLW0603 - one monotonic counter per process is the point
    with _lock:
        ms = time.time_ns() // 1_000_000
        # Strictly increasing within a process even when the clock stalls or steps back.
        ms = max(ms, _last)
        rand = int.from_bytes(os.urandom(10), "big")
        value = (ms << 80) | (0x7 << 76) | ((rand >> 64) & 0x0FFF) << 64
        value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
        _last = ms
    return _from_int(value)


def _from_int(value: int) -> uuid.UUID:
    # uuid.UUID(int=...) re-validates in pure Python; thousands of ids per batch of events
    # make that measurable. The value is built correct above, so set it directly.
    made = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", uuid.SafeUUID.unknown)
    return made


_new = uuid.UUID.__new__
_set = object.__setattr__
