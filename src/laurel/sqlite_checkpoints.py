"""WAL checkpoints on SQLite, off the writers' path.

SQLite's own automatic checkpoint runs inside the commit that fills the write-ahead log past
1,000 pages: that writer, holding the database's only write lock, copies the log into the
database file and waits for the disk to sync it. Every few commits one request paid for the
whole log (a tenth of a group of single events' time, a twentieth of a batch's) while the
others queued behind the lock.

Here each ``Database`` on an SQLite file turns that off on its connections and runs passive
checkpoints from a thread of its own, on its own connection, a moment after commits: SQLite does
the copying and syncing without Python's interpreter lock, so it runs beside the next
transaction on the other core instead of inside it. A passive checkpoint never blocks readers or
writers; what it cannot copy yet (a reader still needs the old pages) the next one copies. The
last connection to close checkpoints whatever is left, as SQLite always does, so a process that
stops mid-way loses nothing: the log is the database until it is copied.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from functools import partial

from laurel.kit.after_commits import AfterCommits

log = logging.getLogger("laurel.db")

# A checkpoint at most this often while commits keep coming: fewer, larger copies than SQLite's
# every-1,000-pages (a page written again and again between two checkpoints is copied once).
INTERVAL_SECONDS = 0.25
# A log that grew large under a burst is truncated back to this once it has been copied.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


class Checkpointer(AfterCommits):
    """Passive checkpoints of one SQLite file, on a daemon thread, while commits happen."""

    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        self.done = _Count()
        """Checkpoints run so far."""
        super().__init__("laurel-sqlite-checkpoints", partial(_run, path, interval, self.done))


class _Count:
    def __init__(self) -> None:
        self.value = 0


def _run(
    path: str,
    interval: float,
    done: _Count,
    committed: threading.Event,
    stopping: threading.Event,
) -> None:
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    try:
        connection.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        while not stopping.is_set():
            committed.wait()
            committed.clear()
            _checkpoint(connection)
            done.value += 1
            # Commits during the wait are gathered into the next checkpoint.
            stopping.wait(interval)
        _checkpoint(connection)
    except sqlite3.Error:
        log.exception("SQLite checkpoints stopped; SQLite checkpoints when connections close")
    finally:
        connection.close()


def _checkpoint(connection: sqlite3.Connection) -> None:
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.OperationalError as exc:  # another process is checkpointing: next time
        log.debug("checkpoint skipped: %s", exc)
