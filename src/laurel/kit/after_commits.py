"""A daemon thread that does its work after a database's commits, off the writers' path.

Started by the first commit and woken by every later one (commits that come while it works are
taken together); ``stop`` wakes it to finish. The thread is handed only the two events and what
its work needs, never its owner: a ``Database`` dropped without ``dispose()`` is collected, and
the finalizer wakes the thread to stop instead of leaving it waiting forever.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

Work = Callable[[threading.Event, threading.Event], None]
"""``work(committed, stopping)``: the thread's whole life; it returns once ``stopping`` is set."""


class AfterCommits:
    def __init__(self, name: str, work: Work) -> None:
        self.name = name
        self._work = work
        self._committed = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None
        """Started by the first commit."""
        weakref.finalize(self, _wake_to_stop, self._stopping, self._committed)

    def committed(self) -> None:
        """A transaction committed: wake the thread (starting it the first time)."""
        if self.thread is None:
            self._start()
        self._committed.set()

    def _start(self) -> None:
        with self._lock:
            if self.thread is None and not self._stopping.is_set():
                self.thread = threading.Thread(
                    target=self._work,
                    args=(self._committed, self._stopping),
                    name=self.name,
                    daemon=True,
                )
                self.thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Wake the thread to finish its work under way and wait for it (``Database.dispose``)."""
        _wake_to_stop(self._stopping, self._committed)
        thread = self.thread
        if thread is not None:
            thread.join(timeout=timeout)


def _wake_to_stop(stopping: threading.Event, committed: threading.Event) -> None:
    stopping.set()
    committed.set()
