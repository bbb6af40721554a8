"""The ingest baseline: the least a FastAPI service can do to accept a completion event.

One endpoint validates a body shaped like Laurel's ``CompletionIn`` with Pydantic and inserts one
row shaped like Laurel's ``completion_events`` row with SQLAlchemy into a SQLite file in WAL mode,
one transaction per request. It has no authentication, no learner or course lookups, no rewards
and no audit trail: the gap between it and Laurel is what Laurel's own work costs.

It is built the way Laurel is, so the comparison is about work and not about setup: a sync route
(run in Starlette's thread pool), WAL with ``synchronous=NORMAL``, and writers serialised by a
process lock before they reach SQLite. It is served by ``uvicorn.run`` with the same options as
``laurel serve``::

    python -m bench.bare_app --port 8001 --database /tmp/bare.db
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    create_engine,
    event,
)
from sqlalchemy.dialects.sqlite import insert

from bench.harness import HOST

ORGANIZATION = uuid.UUID("00000000-0000-7000-8000-000000000001")
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Outcome(StrEnum):
    enrolled = "enrolled"
    in_progress = "in_progress"
    completed = "completed"
    passed = "passed"
    failed = "failed"


class LearnerRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    department: Annotated[str, StringConstraints(max_length=200)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class CourseRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    title: Annotated[str, StringConstraints(max_length=300)] | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=100_000)


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    occurred_at: AwareDatetime
    outcome: Outcome
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    learner: LearnerRef
    course: CourseRef


class Accepted(BaseModel):
    id: uuid.UUID
    event_id: str
    received_at: datetime


metadata = MetaData()
completion_events = Table(
    "completion_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("source", String(64), nullable=False),
    Column("source_event_id", String(300), nullable=False),
    Column("body_hash", String(64), nullable=False),
    Column("learner_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("score", Float),
    Column("occurred_at", DateTime, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("decisions", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("organization_id", "livemode", "source", "source_event_id"),
)


def _engine(database: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{database}",
        connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        pool_size=8,
        max_overflow=8,
    )

    # The same connection setup as Laurel's, so both pay the same for durability.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    metadata.create_all(engine)
    return engine


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def create_app(database: Path) -> FastAPI:
    engine = _engine(database)
    # Writers take turns here rather than in SQLite's sleep-and-retry busy handler (as Laurel's
    # Database does), so the baseline is not slowed by a setup Laurel avoids.
    write_lock = threading.Lock()
    app = FastAPI(title="bare ingest baseline")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/completions", status_code=status.HTTP_202_ACCEPTED)
    def post_completion(body: CompletionIn) -> Accepted:
        now = datetime.now(UTC)
        payload = body.model_dump(mode="json")
        digest = hashlib.sha256(
            json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        row_id = uuid.uuid4()
        with write_lock, engine.begin() as conn:
            conn.execute(
                insert(completion_events)
                .values(
                    id=row_id,
                    organization_id=ORGANIZATION,
                    livemode=True,
                    source="api",
                    source_event_id=body.event_id,
                    body_hash=digest,
                    # No lookups: stable ids derived from the external ids stand in for them.
                    learner_id=uuid.uuid5(ORGANIZATION, body.learner.external_id),
                    course_id=uuid.uuid5(ORGANIZATION, body.course.external_id),
                    outcome=body.outcome.value,
                    score=body.score,
                    occurred_at=_naive_utc(body.occurred_at),
                    received_at=_naive_utc(now),
                    payload=payload,
                    decisions=[],
                    created_at=_naive_utc(now),
                )
                .on_conflict_do_nothing()
            )
        return Accepted(id=row_id, event_id=body.event_id, received_at=now)

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", type=Path, required=True)
    args = parser.parse_args()
    # As `laurel serve` runs it: default loop and HTTP implementation, no access log.
    uvicorn.run(
        create_app(args.database), host=HOST, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
