"""Uploaded imports run in a background thread of the API process, one after another.

The request that uploads a file stores it, records a pending import, commits and answers 202;
this thread then runs it. Everything it needs is in the database (the import row, its cursor)
and the stored file, so an import whose process died is picked up by the next runner that
finds it idle for ``stale_seconds``: at start-up, and every ``poll_seconds`` after. Two runners
never do the same chunk: each chunk is guarded by the cursor it expects
(``service._commit_chunk``).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from datetime import timedelta
from pathlib import Path

from laurel.db import Database
from laurel.imports import service
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError

log = logging.getLogger("laurel.imports")


class ImportRunner:
    def __init__(
        self, db: Database, *, stale_seconds: float = 120.0, poll_seconds: float = 30.0
    ) -> None:
        self.db = db
        self.stale = timedelta(seconds=stale_seconds)
        self.poll_seconds = poll_seconds
        self._queue: queue.Queue[uuid.UUID | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="laurel-imports", daemon=True)
        self._thread.start()

    def submit(self, import_id: uuid.UUID) -> None:
        self._queue.put(import_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the chunk in hand and stop; the import resumes on the next start."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        self._sweep()
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=self.poll_seconds)
            except queue.Empty:
                self._sweep()
                continue
            if item is None:
                return
            self._run(item, None)

    def _sweep(self) -> None:
        try:
            with self.db.read_session() as session:
                idle = service.abandoned(session, idle_since=utcnow() - self.stale)
        except Exception:  # the database may be down; the next sweep tries again
            log.exception("could not look for abandoned imports")
            return
        for import_id, path in idle:
            if self._stop.is_set():
                return
            log.info("resuming abandoned import %s", import_id)
            self._run(import_id, path)

    def _run(self, import_id: uuid.UUID, path: str | None) -> None:
        try:
            if path is None:
                with self.db.read_session() as session:
                    path = service.stored_file(session, import_id)
            if path is None:
                return
            service.run(self.db, import_id, Path(path), stop=self._stop)
        except service.ImportBusy:
            log.info("import %s is being run elsewhere", import_id)
        except AppError as exc:  # the file broke halfway: the import is marked failed
            log.warning("import %s failed: %s", import_id, exc.detail)
        except Exception:
            # Left running with its cursor: a later sweep continues it.
            log.exception("import %s stopped", import_id)
