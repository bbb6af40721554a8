"""Polling TalentLMS with a stored cursor: nothing missed, nothing stored twice.

The cursor (``poll_cursors.position``) holds:

- ``since``: every completion stamped before it was read. It is set, when a round over all
  courses ends, to the round's start (Laurel's clock) minus the overlap (an hour by default):
  never past a poll's start, whatever a portal's clock says, and early enough that a
  completion recorded while the round ran (in a course already read) or stamped by a portal
  clock running behind is read by the next poll;
- ``seen``: the completions read that are stamped at or after ``since`` (key → stamp), and
  ``undated``: those without a readable time (kept as dead letters). The next poll reads the
  overlap again and counts these as replayed: no second event, no second dead letter;
- ``round``: while a round is unfinished (a course failed, the rate limit held), when it began
  and the courses already read. The next poll reads only the others, so a portal with many
  courses progresses even if no single poll gets through all of them.

Each course is stored in its own unit of work (its events, any dead letter and the cursor's
move, under the cursor row's lock), committed before the next course is fetched: what was read
is kept when a later course fails, and no database lock is held while TalentLMS is asked. A
stored position is merged, never overwritten, so two pollers of one organization do no harm.
Completions the cursor does not know are checked against stored events by their derived ids,
so a re-read is a replay even then.

Calls are paced under TalentLMS's documented limit (200 calls per 5 seconds), a 429 is waited
out as its ``Retry-After`` says (a bounded number of times), and a key TalentLMS refuses (401)
gives way to the organization's other active keys, newest first.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from laurel.db import Database
from laurel.events.connectors import intake, registry, talentlms
from laurel.events.connectors import service as config
from laurel.events.connectors.base import Connector, Incoming
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.models import ConnectorConfig, PollCursor
from laurel.events.connectors.secretbox import SecretBox
from laurel.events.models import CompletionEvent
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Invalid
from laurel.kit.retry_after import retry_after

log = logging.getLogger("laurel.polling")

CONNECTOR = talentlms.NAME
TIMEOUT = httpx.Timeout(20.0)
WINDOW_SECONDS = 5.0
"""TalentLMS counts calls per 5 seconds."""
RATE_LIMIT_RETRIES = 3
"""How many times one call is tried again after a 429."""
LONGEST_WAIT = 60.0
"""A 429 asking for a longer wait ends the poll instead (the next one carries on)."""
DEFAULT_WAIT = WINDOW_SECONDS
"""The wait after a 429 without a readable ``Retry-After``."""

Units = Callable[[], AbstractContextManager[Session]]
"""Opens one unit of work that commits when its block ends without error."""


class PollNotConfigured(Invalid):
    code = "poll_not_configured"


class PollIncomplete(AppError):
    """Some courses could not be read; what was read is stored and the rest is read next."""

    status = 502
    code = "poll_incomplete"

    def __init__(self, detail: str, report: PollReport) -> None:
        super().__init__(detail)
        self.report = report


class RateLimited(httpx.HTTPStatusError):
    """TalentLMS kept answering 429 (or asked for too long a wait)."""


@dataclass
class PollReport:
    """What one poll did. ``read`` counts every completion in the poll's window: ``accepted``
    were stored now, ``replayed`` had been read before (stored, or kept as a dead letter),
    the rest are in ``dead_letters``."""

    organization_id: uuid.UUID
    livemode: bool
    courses: int = 0
    read: int = 0
    accepted: int = 0
    replayed: int = 0
    dead_letters: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = False
    """True when the poll finished a round over every course and moved ``since``."""


# --------------------------------------------------------------------------- the cursor


@dataclass
class _Position:
    """``poll_cursors.position``, read and written as described in the module docstring."""

    since: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    undated: set[str] = field(default_factory=set)
    round_started: int | None = None
    done: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, raw: dict[str, Any]) -> _Position:
        since = int(raw.get("since", 0))
        seen = raw.get("seen") or {}
        if isinstance(seen, list):
            # Written before the overlap: (user, course) pairs read at exactly ``since``.
            seen = {f"{key}:{since}": since for key in seen}
        started = (raw.get("round") or {}).get("started")
        return cls(
            since=since,
            seen={str(k): int(v) for k, v in seen.items()},
            undated={str(k) for k in raw.get("undated") or []},
            round_started=None if started is None else int(started),
            done={str(c) for c in (raw.get("round") or {}).get("done") or []},
        )

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"since": self.since, "seen": dict(sorted(self.seen.items()))}
        if self.undated:
            out["undated"] = sorted(self.undated)
        if self.round_started is not None:
            out["round"] = {"started": self.round_started, "done": sorted(self.done)}
        return out

    def floor(self, start: int, overlap: int) -> int:
        """The earliest stamp a poll starting at ``start`` reads. Below ``since`` only for a
        cursor left ahead of the clock (or from before the overlap): that stretch is read
        again, as replays."""
        return min(self.since, start - overlap)

    def knows(self, key: str) -> bool:
        return key in self.seen or key in self.undated

    def remember(self, key: str, stamp: int | None) -> None:
        if stamp is None:
            self.undated.add(key)
        else:
            self.seen[key] = stamp

    def begin(self, start: int) -> None:
        """Join the open round, or open one; a round starts when its earliest poll did."""
        self.round_started = start if self.round_started is None else min(self.round_started, start)

    def finish(self, overlap: int) -> None:
        """Every course was read since the round began: later polls start from there."""
        assert self.round_started is not None
        self.since = self.round_started - overlap
        self.seen = {k: s for k, s in self.seen.items() if s >= self.since}
        self.round_started = None
        self.done = set()


@dataclass(frozen=True, slots=True)
class Standing:
    """Where polling of one organization's source stands, for people to see."""

    since: datetime | None
    last_polled_at: datetime | None
    last_error: str | None
    round_open: bool


def standing(session: Session, organization_id: uuid.UUID, livemode: bool) -> Standing | None:
    """None when the source was never polled in this mode."""
    cursor = session.scalar(_cursor_query(organization_id, livemode))
    if cursor is None:
        return None
    position = _Position.load(cursor.position)
    return Standing(
        since=datetime.fromtimestamp(position.since, UTC) if position.since else None,
        last_polled_at=cursor.last_polled_at,
        last_error=cursor.last_error,
        round_open=position.round_started is not None,
    )


def _cursor_query(organization_id: uuid.UUID, livemode: bool) -> Select[PollCursor]:
    return select(PollCursor).where(
        PollCursor.organization_id == organization_id,
        PollCursor.connector == CONNECTOR,
        PollCursor.livemode == livemode,
    )


def _cursor(session: Session, organization_id: uuid.UUID, livemode: bool) -> PollCursor:
    """The cursor row, locked (created when missing): two pollers of one organization take
    turns at it."""
    query = (
        _cursor_query(organization_id, livemode)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    cursor = session.scalar(query)
    if cursor is not None:
        return cursor
    try:
        with session.begin_nested():
            cursor = PollCursor(
                organization_id=organization_id,
                connector=CONNECTOR,
                livemode=livemode,
                position={},
            )
            session.add(cursor)
    except IntegrityError:
        # Another poller created it between the two statements: use theirs.
        found = session.scalar(query)
        assert found is not None
        return found
    return cursor


# --------------------------------------------------------------------------- TalentLMS calls


class Pacer:
    """At most ``calls`` calls in any ``seconds``-long window (a sliding log of call times).

    ``clock`` and ``sleep`` are injected so tests can count waits without waiting.
    """

    def __init__(
        self,
        calls: int,
        seconds: float = WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.calls = calls
        self.seconds = seconds
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()

    def wait(self) -> None:
        """Wait until one more call fits, and count it."""
        now = self._forget_old()
        while len(self._sent) >= self.calls:
            self.sleep(max(0.0, self._sent[0] + self.seconds - now))
            now = self._forget_old()
        self._sent.append(now)

    def _forget_old(self) -> float:
        now = self.clock()
        while self._sent and self._sent[0] + self.seconds <= now:
            self._sent.popleft()
        return now


class _Api:
    """TalentLMS's REST API for one poll: paced, 429s waited out, every active key tried."""

    def __init__(
        self,
        base_url: str,
        keys: list[config.ActiveSecret],
        pacer: Pacer,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.keys = list(reversed(keys))  # newest first: the one a rotation just added
        self.using = 0
        self.refused: set[int] = set()
        self.pacer = pacer
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=TIMEOUT, transport=transport
        )

    @property
    def key(self) -> config.ActiveSecret:
        return self.keys[self.using]

    def close(self) -> None:
        self.client.close()

    def get(self, path: str) -> Any:
        waits = 0
        while True:
            self.pacer.wait()
            response = self.client.get(path, auth=(self.key.plain, ""))
            if response.status_code == 401:
                self.refused.add(self.using)
                untried = [i for i in range(len(self.keys)) if i not in self.refused]
                if untried:
                    log.info("talentlms refused key …%s; trying an older one", self.key.row.hint)
                    self.using = untried[0]
                    continue
                raise httpx.HTTPStatusError(
                    f"401: TalentLMS refused every active key ({len(self.keys)} tried) "
                    f"for {response.request.url}",
                    request=response.request,
                    response=response,
                )
            if response.status_code == 429:
                wait = retry_after(response, DEFAULT_WAIT) or DEFAULT_WAIT
                if waits >= RATE_LIMIT_RETRIES or wait > LONGEST_WAIT:
                    raise RateLimited(
                        f"429: TalentLMS's rate limit held after {waits} waits "
                        f"(Retry-After {wait:g} s) for {response.request.url}",
                        request=response.request,
                        response=response,
                    )
                waits += 1
                self.pacer.sleep(wait)
                continue
            response.raise_for_status()
            return response.json()


def _stops_the_poll(exc: Exception) -> bool:
    """Failures every later call would repeat; others fail one course and the poll goes on."""
    if isinstance(exc, RateLimited | httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (401, 403)


# --------------------------------------------------------------------------- one poll


@dataclass
class _Found:
    """One completion a course fetch returned, inside the poll's window."""

    user: dict[str, Any]
    done: talentlms.Completion
    key: str


class _Poll:
    def __init__(
        self,
        units: Units,
        box: SecretBox,
        organization_id: uuid.UUID,
        *,
        livemode: bool,
        actor_name: str,
        transport: httpx.BaseTransport | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.units = units
        self.box = box
        self.organization_id = organization_id
        self.livemode = livemode
        self.transport = transport
        self.clock = clock
        self.sleep = sleep
        self.connector: Connector = registry.get(CONNECTOR)
        self.start = int(utcnow().timestamp())
        self.report = PollReport(organization_id, livemode)
        self.actor = Actor(
            name=actor_name,
            organization_id=organization_id,
            livemode=livemode,
            scopes=frozenset({"events:write"}),
        )

    def run(self) -> PollReport:
        with self.units() as session:
            mapping, keys, options = self._setup(session)
            position = _Position.load(
                _cursor(session, self.organization_id, self.livemode).position
            )
        self.mapping, self.overlap = mapping, options.overlap_seconds
        self.floor = position.floor(self.start, self.overlap)
        self.known = position
        self.domain = urlsplit(mapping.base_url or "").hostname or mapping.base_url
        pacer = Pacer(options.calls_per_5_seconds, clock=self.clock, sleep=self.sleep)
        api = _Api(mapping.base_url or "", keys, pacer, self.transport)
        try:
            try:
                wanted = self._wanted(api.get("/api/v1/courses"))
            except (httpx.HTTPError, ValueError) as exc:
                self._stop(f"GET /api/v1/courses: {exc}")
                raise
            for summary in wanted:
                course_id = str(summary.get("id"))
                if course_id in position.done:
                    continue
                try:
                    self._course(api, course_id)
                except (httpx.HTTPError, ValueError) as exc:
                    self.report.errors.append(f"course {course_id}: {exc}")
                    if _stops_the_poll(exc):
                        self._stop("; ".join(self.report.errors))
                        raise
            self._finish({str(c.get("id")) for c in wanted}, api.key)
        finally:
            api.close()
        if self.report.errors:
            raise PollIncomplete(
                f"{len(self.report.errors)} course(s) not read; the next poll reads them: "
                + "; ".join(self.report.errors),
                self.report,
            )
        return self.report

    def _setup(
        self, session: Session
    ) -> tuple[ConnectorMapping, list[config.ActiveSecret], talentlms.PollOptions]:
        mapping = config.mapping_of(session, self.organization_id, CONNECTOR)
        if mapping.base_url is None:
            raise PollNotConfigured(
                "set mapping.base_url for talentlms (https://<domain>.talentlms.com)"
            )
        problem = self.connector.options_problem(mapping.options)
        if problem is not None:
            # Stored before the option was checked: say which one, before any call.
            raise PollNotConfigured(f"talentlms mapping.{problem[0]}: {problem[1]}")
        options = talentlms.poll_options(mapping)
        keys = config.active_secrets(
            session, self.box, self.organization_id, CONNECTOR, livemode=self.livemode
        )
        if not keys:
            mode = "live" if self.livemode else "test"
            raise PollNotConfigured(f"add a {mode} talentlms secret: the TalentLMS API key")
        return mapping, keys, options

    def _wanted(self, listed: Any) -> list[dict[str, Any]]:
        if not isinstance(listed, list):
            raise ValueError("GET /api/v1/courses did not answer a list")
        wanted = [c for c in listed if isinstance(c, dict)]
        if self.mapping.course_ids is not None:
            chosen = set(self.mapping.course_ids)
            key = self.connector.course_key(self.mapping)
            wanted = [c for c in wanted if str(c.get(key)) in chosen]
        return wanted

    def _course(self, api: _Api, course_id: str) -> None:
        """Read one course from TalentLMS, then store what is new in one unit of work."""
        try:
            course = api.get(f"/api/v1/courses/id:{course_id}")
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 404:
                raise
            course = None  # deleted since it was listed: nothing left to read
        found: list[_Found] = []
        if isinstance(course, dict):
            self.report.courses += 1
            found = self._found(course)
            fresh = [f for f in found if not self.known.knows(f.key)]
            if fresh and self.connector.learner_key(self.mapping) != "id":
                _add_profiles(api, [f.user for f in fresh])
        with self.units() as session:
            self._store(session, course_id, course, found)

    def _found(self, course: dict[str, Any]) -> list[_Found]:
        out = []
        for user in course.get("users") or []:
            if not isinstance(user, dict):
                continue
            done = talentlms.completion(user, self.mapping)
            if done is None or (done.stamp is not None and done.stamp < self.floor):
                continue
            key = f"{user.get('id')}:{course.get('id')}:{done.when}"
            out.append(_Found(user, done, key))
        return out

    def _store(
        self,
        session: Session,
        course_id: str,
        course: dict[str, Any] | None,
        found: list[_Found],
    ) -> None:
        cursor = _cursor(session, self.organization_id, self.livemode)
        position = _Position.load(cursor.position)
        # Against the stored position, not the one read at the start: another poller may
        # have read some of these since.
        floor = position.floor(self.start, self.overlap)
        fresh = [
            f
            for f in found
            if not position.knows(f.key) and (f.done.stamp is None or f.done.stamp >= floor)
        ]
        self.report.read += len(found)
        self.report.replayed += len(found) - len(fresh)
        if course is not None and fresh:
            ids = {talentlms.event_id(self.domain, f.user, course, f.done): f for f in fresh}
            stored = set(
                session.scalars(
                    select(CompletionEvent.source_event_id).where(
                        CompletionEvent.organization_id == self.organization_id,
                        CompletionEvent.livemode == self.livemode,
                        CompletionEvent.source == CONNECTOR,
                        CompletionEvent.source_event_id.in_(list(ids)),
                    )
                )
            )
            self.report.replayed += len(stored)
            new = [f for event, f in ids.items() if event not in stored]
            if new:
                self._intake(session, course, [f.user for f in new])
        for f in fresh:
            position.remember(f.key, f.done.stamp)
        position.begin(self.start)
        position.done.add(course_id)
        cursor.position = position.dump()
        self.known = position

    def _intake(self, session: Session, course: dict[str, Any], users: list[Any]) -> None:
        doc = {
            "domain": self.domain,
            "course": {k: v for k, v in course.items() if k != "users"},
            "users": users,
        }
        incoming = Incoming(
            body=json.dumps(doc).encode(), headers={"content-type": "application/json"}
        )
        outcome = intake.process(session, self.actor, self.connector, incoming)
        self.report.accepted += outcome.accepted
        self.report.replayed += outcome.replayed
        if outcome.reason is not None:
            letter = intake.keep(session, self.actor, self.connector, incoming, outcome)
            self.report.dead_letters.append(str(letter.id))

    def _finish(self, wanted: set[str], key: config.ActiveSecret) -> None:
        with self.units() as session:
            cursor = _cursor(session, self.organization_id, self.livemode)
            position = _Position.load(cursor.position)
            position.begin(self.start)
            if wanted <= position.done:
                position.finish(self.overlap)
                self.report.complete = True
            cursor.position = position.dump()
            cursor.last_polled_at = utcnow()
            cursor.last_error = "; ".join(self.report.errors)[:2000] or None
            config.touch(session, key.row)

    def _stop(self, error: str) -> None:
        """Record why the poll stopped; the courses already stored stay stored."""
        with self.units() as session:
            cursor = _cursor(session, self.organization_id, self.livemode)
            cursor.last_polled_at = utcnow()
            cursor.last_error = error[:2000]


def _add_profiles(api: _Api, users: list[dict[str, Any]]) -> None:
    """Course user lists carry no e-mail or login: read each user once per course."""
    profiles: dict[str, dict[str, Any]] = {}
    for user in users:
        key = str(user.get("id"))
        if key not in profiles:
            profile = api.get(f"/api/v1/users/id:{user['id']}")
            profiles[key] = profile if isinstance(profile, dict) else {}
        user.setdefault("email", profiles[key].get("email"))
        user.setdefault("login", profiles[key].get("login"))


def poll(
    database: Database,
    box: SecretBox,
    organization_id: uuid.UUID,
    *,
    livemode: bool = True,
    actor_name: str = "poller:talentlms",
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PollReport:
    """One poll of one organization's TalentLMS (``laurel connectors poll``), one unit of work
    per course, so what was read stays when a later course fails and no transaction stays open
    while TalentLMS is asked. Raises ``PollNotConfigured`` before any call, an
    ``httpx.HTTPError`` for a failure that stopped the poll (the course list, every key
    refused, the rate limit, TalentLMS unreachable) and ``PollIncomplete`` when some courses
    failed; either way ``last_error`` on the cursor says why.
    """
    return _Poll(
        database.session,
        box,
        organization_id,
        livemode=livemode,
        actor_name=actor_name,
        transport=transport,
        clock=clock,
        sleep=sleep,
    ).run()


def configured(session: Session) -> list[uuid.UUID]:
    """Organizations that set a TalentLMS base URL (the ones a scheduler polls)."""
    rows = session.scalars(select(ConnectorConfig).where(ConnectorConfig.connector == CONNECTOR))
    return [r.organization_id for r in rows if r.mapping.get("base_url")]


def poll_all(
    database: Database,
    box: SecretBox,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[PollReport]:
    """One round over every configured organization and mode, one unit of work per course:
    no transaction stays open while TalentLMS is asked or the pacing waits."""
    with database.read_session() as session:
        organizations = configured(session)
    reports = []
    for organization_id in organizations:
        for livemode in (True, False):
            with database.read_session() as session:
                if not config.active_secrets(
                    session, box, organization_id, CONNECTOR, livemode=livemode
                ):
                    continue
            try:
                reports.append(
                    _Poll(
                        database.session,
                        box,
                        organization_id,
                        livemode=livemode,
                        actor_name="poller:talentlms",
                        transport=transport,
                        clock=clock,
                        sleep=sleep,
                    ).run()
                )
            except PollIncomplete as exc:
                log.warning("talentlms poll of %s incomplete: %s", organization_id, exc.detail)
                reports.append(exc.report)
            except httpx.HTTPError as exc:
                # One organization's unreachable LMS must not stop the others' polls. The
                # poll recorded why it stopped on the cursor.
                log.warning("talentlms poll of %s failed: %s", organization_id, exc)
            except (ValueError, AppError) as exc:
                log.warning("talentlms poll of %s failed: %s", organization_id, exc)
                _record_error(database, organization_id, livemode, str(exc))
    return reports


def _record_error(
    database: Database, organization_id: uuid.UUID, livemode: bool, error: str
) -> None:
    """``last_error`` on the cursor, created when missing (a first poll that failed)."""
    with database.session() as session:
        cursor = _cursor(session, organization_id, livemode)
        cursor.last_error = error[:2000]
        cursor.last_polled_at = utcnow()


def start_scheduler(
    database: Database, box: SecretBox, interval: float
) -> tuple[threading.Thread, threading.Event]:
    """Poll every ``interval`` seconds in a daemon thread until the event is set."""
    stop = threading.Event()

    def _run() -> None:
        while not stop.is_set():
            try:
                poll_all(database, box)
            except Exception:  # the schedule must outlive a bad round; the next one retries
                log.exception("talentlms polling round failed")
            stop.wait(interval)

    thread = threading.Thread(target=_run, daemon=True, name="laurel-poller")
    thread.start()
    return thread, stop
