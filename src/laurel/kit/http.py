"""HTTP plumbing shared by every domain's api.py: the caller, the unit of work, error shapes."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy.orm import Session

from laurel.auth import permissions, users
from laurel.auth import service as auth
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Forbidden, Unauthorized
from laurel.portal import service as portal

log = logging.getLogger("laurel.auth")

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

    def put(self, secret: str, actor: Actor, expires_at: datetime | None = None) -> None:
        """Remember ``actor``; never past the key's own ``expires_at``."""
        ttl = self.ttl
        if expires_at is not None:
            ttl = min(ttl, (expires_at - utcnow()).total_seconds())
        if ttl <= 0:
            return
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[secret] = (actor, time.monotonic() + ttl)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@contextmanager
def read_only(db: Database) -> Iterator[Session]:
    """For GET routes: a read transaction that never waits for writers on SQLite."""
    with db.read_session() as session:
        yield session


def _authenticate(db: Database, secret: str) -> auth.ResolvedKey:
    with db.session() as session:
        return auth.resolve_key(session, secret)


def _resolve_session(db: Database, token: str) -> users.Resolved:
    with db.session() as session:
        return users.resolve(session, token)


def _resolve_learner(db: Database, token: str) -> portal.Resolved:
    with db.session() as session:
        return portal.resolve(session, token)


SESSION_COOKIE = "laurel_session"
CSRF_COOKIE = "laurel_csrf"
CSRF_HEADER = "X-CSRF-Token"
LEARNER_COOKIE = "laurel_learner"
"""A learner's session (``laurel.portal``): their own pages and their own records only."""
LEARNER_CSRF_COOKIE = "laurel_learner_csrf"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


async def _check_csrf(request: Request, expected_hash: str) -> None:
    if request.method in _SAFE:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get("csrf_token")
        sent = field if isinstance(field, str) else None
    if not users.csrf_matches(expected_hash, sent):
        raise Forbidden(f"missing or wrong CSRF token: send the {CSRF_HEADER} header")


async def _learner(request: Request, db: Database, token: str) -> Actor:
    resolved = await run_in_threadpool(_resolve_learner, db, token)
    await _check_csrf(request, resolved.csrf_hash)
    return resolved.actor


async def _caller(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """An API key (``Authorization: Bearer``) or a signed-in user (session cookie).

    Cookie-authenticated unsafe requests must echo the session's CSRF token in the
    ``X-CSRF-Token`` header or a ``csrf_token`` form field.
    """
    if credentials is not None and credentials.scheme.lower() == "bearer":
        cache: KeyCache = request.app.state.key_cache
        actor = cache.get(credentials.credentials)
        if actor is None:
            key = await run_in_threadpool(_authenticate, db, credentials.credentials)
            cache.put(credentials.credentials, key.actor, key.expires_at)
            actor = key.actor
        return actor
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        learner = request.cookies.get(LEARNER_COOKIE)
        if learner:
            return await _learner(request, db, learner)
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>' or sign in")
    resolved = await run_in_threadpool(_resolve_session, db, token)
    await _check_csrf(request, resolved.csrf_hash)
    return resolved.actor


async def _learner_first(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """For the learner's own pages: the learner session when the browser has one (a dashboard
    user who is also a learner sees the pages as the learner), else as :func:`_caller`."""
    learner = request.cookies.get(LEARNER_COOKIE)
    if learner and credentials is None:
        return await _learner(request, db, learner)
    return await _caller(request, db, credentials)


_warned: set[tuple[str, str]] = set()


def route_of(request: Request) -> tuple[str, str]:
    """(method, path template) of the route being served, as the permission table keys it."""
    # A router included with a prefix: FastAPI keeps the route as declared and the prefixed
    # template in its "effective route context"; older FastAPI baked the prefix into the route.
    context = (request.scope.get("fastapi") or {}).get("effective_route_context")
    route = request.scope.get("route")
    path = (
        getattr(context, "path_format", None)
        or getattr(route, "path_format", None)
        or request.url.path
    )
    return ("GET" if request.method == "HEAD" else request.method), path


def authorized(fallback: permissions.Rule, *, learner_first: bool = False) -> Any:
    """A dependency: the caller, allowed by the permission table's row for this route.

    ``fallback`` only serves a route the table does not mention yet (the table test fails for
    it, so it gets a row before release): the meaning the dependency's name had before.
    ``learner_first``: a learner session cookie wins over a dashboard session (learner pages).
    """

    def _check(request: Request, caller: Actor) -> Actor:
        key = route_of(request)
        rule = permissions.rule_for(*key)
        if rule is None:
            if key not in _warned:
                _warned.add(key)
                log.warning("route %s %s has no row in the permission table", *key)
            rule = fallback
        return permissions.authorize(caller, rule)

    # Two functions, not one with a variable dependency: the annotations are resolved by name.
    async def _as_caller(request: Request, caller: Annotated[Actor, Depends(_caller)]) -> Actor:
        return _check(request, caller)

    async def _as_learner(
        request: Request, caller: Annotated[Actor, Depends(_learner_first)]
    ) -> Actor:
        return _check(request, caller)

    _dependency = _as_learner if learner_first else _as_caller
    return Depends(_dependency)


def require(scope: auth.Scope) -> Any:
    """Kept for callers of the old name: the table decides, ``scope`` is the fallback."""
    return authorized(_FALLBACK[scope])


_K = permissions.KeyScope
_FALLBACK = {
    auth.Scope.read: permissions.Rule(roles=permissions.ADMIN, keys=frozenset({_K.read})),
    auth.Scope.admin: permissions.Rule(roles=permissions.ADMIN, keys=frozenset({_K.admin})),
    auth.Scope.events_write: permissions.Rule(keys=frozenset({_K.events_write})),
}

Reader = Annotated[Actor, require(auth.Scope.read)]
LiveAdmin = Annotated[
    Actor,
    authorized(permissions.Rule(roles=permissions.ADMIN, keys=frozenset({_K.admin}), live=True)),
]
"""Programs, rules, budgets and the audit trail are shared by both modes: live keys only."""
Admin = Annotated[Actor, require(auth.Scope.admin)]
EventWriter = Annotated[Actor, require(auth.Scope.events_write)]
SignedIn = Annotated[Actor, authorized(permissions.signed_in())]
"""Any signed-in user or key; what the route may do is still the table's row."""
LearnerSelf = Annotated[
    Actor,
    authorized(permissions.learner_self(), learner_first=True),
]
"""The learner's own pages: a learner session (or a user with the ``learner`` role); the
actor's ``learner_id`` is the only learner it sees."""
Caller = Annotated[Actor, Depends(_caller)]
"""The resolved caller without any permission check: for routes whose row is public."""

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
        401: "Missing or unknown API key, or not signed in",
        403: "The permission table does not grant this to the caller",
        404: "Not found in this organization",
        409: "Conflicts with the current state",
        422: "Invalid input: each bad field named",
    }
    return {c: {"model": ErrorOut, "description": text.get(c, "Error")} for c in codes}
