"""HTTP plumbing shared by every domain's api.py: the caller, the unit of work, error shapes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy.orm import Session

from laurel.auth import service as auth
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="A Laurel API key: `lrl_live_…` or `lrl_test_…`")


class ErrorOut(BaseModel):
    error: str
    detail: Any = None


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in the thread
# pool, one thread hop each, which cost more than the rest of the dependency chain; none of
# them blocks, except the key lookup on a cache miss, which goes to the pool itself.


async def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


DatabaseDep = Annotated[Database, Depends(database)]


@contextmanager
def unit_of_work(db: Database) -> Iterator[Session]:
    """One transaction per request, committed before the answer is built."""
    with db.session() as session:
        yield session


class KeyCache:
    """Resolved keys for a few seconds, so a busy LMS does not cost a lookup per event.

    A revoked key stops working within ``ttl`` seconds on every process (at once on this one).
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[Actor, float]] = {}
        self._lock = threading.Lock()

    def get(self, secret: str) -> Actor | None:
        with self._lock:
            found = self._items.get(secret)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def put(self, secret: str, actor: Actor) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[secret] = (actor, time.monotonic() + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@contextmanager
def read_only(db: Database) -> Iterator[Session]:
    """For GET routes: a read transaction that never waits for writers on SQLite."""
    with db.read_session() as session:
        yield session


def _authenticate(db: Database, secret: str) -> Actor:
    with db.session() as session:
        return auth.authenticate(session, secret)


async def _actor(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    cache: KeyCache = request.app.state.key_cache
    actor = cache.get(credentials.credentials)
    if actor is None:
        actor = await run_in_threadpool(_authenticate, db, credentials.credentials)
        cache.put(credentials.credentials, actor)
    return actor


def require(scope: auth.Scope) -> Any:
    async def _dependency(actor: Annotated[Actor, Depends(_actor)]) -> Actor:
        auth.require(actor, scope)
        return actor

    return Depends(_dependency)


async def _live_admin(actor: Annotated[Actor, require(auth.Scope.admin)]) -> Actor:
    if not actor.livemode:
        raise Forbidden(
            "test-mode keys cannot change shared configuration or read the audit trail; "
            "use a live admin key"
        )
    return actor


Reader = Annotated[Actor, require(auth.Scope.read)]
LiveAdmin = Annotated[Actor, Depends(_live_admin)]
"""Programs, rules, budgets and the audit trail are shared by both modes: live keys only."""
Admin = Annotated[Actor, require(auth.Scope.admin)]
EventWriter = Annotated[Actor, require(auth.Scope.events_write)]

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[uuid.UUID | None, Query(description="`next_cursor` from the previous page")]


def json_response(content: BaseModel | dict[str, Any], status_code: int = 200) -> Response:
    """Answer with values the service just produced, encoded as the route's model would be.

    Returning a model makes FastAPI validate it again against ``response_model`` before encoding
    it, which for a batch answer costs more than storing the events. Routes keep
    ``response_model`` for OpenAPI; a dict given here must have exactly that model's fields, and
    pydantic-core's encoder writes UUIDs, times and enums as the model would.
    """
    body = content.model_dump_json() if isinstance(content, BaseModel) else to_json(content)
    return Response(body, status_code, media_type="application/json")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for an endpoint's error answers."""
    text = {
        400: "Malformed request",
        401: "Missing or unknown API key",
        403: "The key lacks the scope",
        404: "Not found in this organization",
        409: "Conflicts with the current state",
        422: "Invalid input: each bad field named",
    }
    return {c: {"model": ErrorOut, "description": text.get(c, "Error")} for c in codes}
