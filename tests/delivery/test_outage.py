"""A worker outlives its database going away."""

from __future__ import annotations

import threading
import time

from laurel.config import Settings
from laurel.db import Database
from laurel.worker import Worker, default_providers


def test_worker_survives_unreachable_database() -> None:
    database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    settings = Settings(database_url=database.url, worker_poll_seconds=0.05)
    worker = Worker(database, settings, default_providers(database))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(2.5)
    # Two failed passes later it is still trying, not dead.
    assert thread.is_alive()
    stop.set()
    worker.wake.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    database.dispose()
