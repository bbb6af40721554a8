"""Uploaded imports survive their process: the runner, or a resume request, continues them."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from laurel.db import Database
from laurel.events.models import CompletionEvent
from laurel.imports import service
from laurel.imports.models import FileFormat, Import, ImportKind
from laurel.imports.runner import ImportRunner
from laurel.kit.clock import utcnow
from tests.conftest import Tenant
from tests.factories import backdate_program, fixed_program
from tests.imports.support import finished, good_row, report, write


def interrupted(database: Database, tenant: Tenant, folder: Path, rows: int) -> uuid.UUID:
    """An uploaded import whose process stopped after its first chunk, a while ago."""
    content = report([good_row(n) for n in range(rows)])
    path = write(folder, "upload.bin", content)
    facts = service.FileFacts(
        "r.csv", path, len(content), hashlib.sha256(content).hexdigest(), FileFormat.csv
    )
    with database.session() as session:
        imp = service.create(session, tenant.actor, ImportKind.completions, facts, stored_path=path)
        import_id = imp.id
    stopped = threading.Event()
    stopped.set()
    service.run(database, import_id, path, chunk_rows=2, stop=stopped)
    with database.session() as session:
        session.execute(
            update(Import)
            .where(Import.id == import_id)
            .values(updated_at=utcnow() - timedelta(minutes=10))
        )
    return import_id


def progress(database: Database, import_id: uuid.UUID) -> tuple[str, int, int, int]:
    with database.sessionmaker() as session:
        imp = session.get(Import, import_id)
        assert imp is not None
        events = session.scalar(select(func.count()).select_from(CompletionEvent)) or 0
        return imp.status, imp.rows_read, imp.accepted, events


def test_runner_picks_up_an_abandoned_upload(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    program = fixed_program(client, tenant)
    backdate_program(database, program["id"], utcnow() - timedelta(days=30))
    import_id = interrupted(database, tenant, tmp_path, 5)
    assert progress(database, import_id) == ("running", 2, 2, 2)
    runner = ImportRunner(database, stale_seconds=60, poll_seconds=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while progress(database, import_id)[0] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        runner.stop()
    assert progress(database, import_id) == ("completed", 5, 5, 5)
    # The stored upload is removed once its import is complete.
    assert not (tmp_path / "upload.bin").exists()


def test_resume_request_continues_where_it_stopped(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    import_id = interrupted(database, tenant, tmp_path, 4)
    response = client.post(f"/api/v1/imports/{import_id}/resume", headers=tenant.headers)
    assert response.status_code == 202, response.text
    body = finished(client, tenant, str(import_id), tenant.headers)
    assert (body["status"], body["rows_read"], body["accepted"]) == ("completed", 4, 4)
    again = client.post(f"/api/v1/imports/{import_id}/resume", headers=tenant.headers)
    assert again.json()["accepted"] == 4


def test_two_processes_resuming_one_import_never_do_a_chunk_twice(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    program = fixed_program(client, tenant)
    backdate_program(database, program["id"], utcnow() - timedelta(days=30))
    import_id = interrupted(database, tenant, tmp_path, 12)
    path = tmp_path / "upload.bin"
    outcomes: list[str] = []

    def resume() -> None:
        try:
            service.run(database, import_id, path, chunk_rows=2)
            outcomes.append("ran")
        except service.ImportBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert "ran" in outcomes
    assert len(outcomes) == 2
    # Whoever did which chunk, each row was done once and counted once.
    assert progress(database, import_id) == ("completed", 12, 12, 12)


class _Deadlock(Exception):
    """What SQLAlchemy raises when PostgreSQL aborts a transaction as a deadlock: the driver's
    error, with its SQLSTATE, as ``orig``."""

    def __init__(self) -> None:
        super().__init__("deadlock detected")
        self.orig = type("DeadlockDetected", (), {"sqlstate": "40P01"})()


def test_a_chunk_aborted_by_a_deadlock_is_committed_again(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database aborts the second chunk's transaction as a deadlock (injected after the
    real chunk work rolled back): the import runs that chunk again and completes, once."""
    program = fixed_program(client, tenant)
    backdate_program(database, program["id"], utcnow() - timedelta(days=30))
    content = report([good_row(n) for n in range(5)])
    path = write(tmp_path, "upload.bin", content)
    facts = service.FileFacts(
        "r.csv", path, len(content), hashlib.sha256(content).hexdigest(), FileFormat.csv
    )
    with database.session() as session:
        imp = service.create(session, tenant.actor, ImportKind.completions, facts, stored_path=path)
        import_id = imp.id
    real = service._commit_chunk
    calls: list[int] = []

    def aborted_once(db: Database, iid: uuid.UUID, cursor: int, *rest: Any) -> int:
        calls.append(cursor)
        if calls.count(cursor) == 1 and cursor == 2:
            with db.session() as session:  # the chunk's work, then the server's abort
                session.execute(update(Import).where(Import.id == iid).values(accepted=-99))
                raise _Deadlock()
        return real(db, iid, cursor, *rest)

    monkeypatch.setattr(service, "_commit_chunk", aborted_once)
    service.run(database, import_id, path, chunk_rows=2)

    assert calls == [0, 2, 2, 4]
    assert progress(database, import_id) == ("completed", 5, 5, 5)
