"""Polling TalentLMS with a stored cursor: nothing missed, nothing read twice.

The cursor is (``since``: the newest completion time read, ``seen``: the completions read at
exactly that second). A poll keeps completions newer than ``since``, or at ``since`` and not
in ``seen``, so completions sharing a second with the last poll's newest are neither skipped
nor read again. The cursor moves in the same transaction that stores the events (and any dead
letter), so a crash mid-poll leaves both where they were and the next poll reads the same
completions again. Derived event ids make even that harmless.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.db import Database
from laurel.events.connectors import intake, registry
from laurel.events.connectors import service as config
from laurel.events.connectors.base import Incoming
from laurel.events.connectors.models import ConnectorConfig, PollCursor
from laurel.events.connectors.secretbox import SecretBox
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Invalid

log = logging.getLogger("laurel.polling")

CONNECTOR = "talentlms"
TIMEOUT = httpx.Timeout(20.0)


class PollNotConfigured(Invalid):
    code = "poll_not_configured"


@dataclass
class PollReport:
    organization_id: uuid.UUID
    livemode: bool
    courses: int = 0
    read: int = 0
    accepted: int = 0
    replayed: int = 0
    dead_letters: list[str] = field(default_factory=list)


def _get(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    response.raise_for_status()
    return response.json()


def _key(user: dict[str, Any]) -> str:
    return str(user.get("id"))


def poll(
    session: Session,
    box: SecretBox,
    organization_id: uuid.UUID,
    *,
    livemode: bool = True,
    actor_name: str = "poller:talentlms",
    transport: httpx.BaseTransport | None = None,
) -> PollReport:
    """One poll of one organization's TalentLMS, in the caller's unit of work."""
    connector = registry.get(CONNECTOR)
    mapping = config.mapping_of(session, organization_id, CONNECTOR)
    if mapping.base_url is None:
        raise PollNotConfigured(
            "set mapping.base_url for talentlms (https://<domain>.talentlms.com)"
        )
    keys = config.active_secrets(session, box, organization_id, CONNECTOR, livemode=livemode)
    if not keys:
        mode = "live" if livemode else "test"
        raise PollNotConfigured(f"add a {mode} talentlms secret: the TalentLMS API key")
    cursor = _cursor(session, organization_id, livemode)
    read = _Read(
        since=int(cursor.position.get("since", 0)), seen=set(cursor.position.get("seen", []))
    )
    actor = Actor(
        name=actor_name,
        organization_id=organization_id,
        livemode=livemode,
        scopes=frozenset({"events:write"}),
    )
    report = PollReport(organization_id, livemode)
    domain = urlsplit(mapping.base_url).hostname or mapping.base_url
    # The newest key is used; older ones stay active only so a rotation has no gap.
    with httpx.Client(
        base_url=mapping.base_url.rstrip("/"),
        auth=(keys[-1].plain, ""),
        timeout=TIMEOUT,
        transport=transport,
    ) as client:
        wanted = [c for c in _get(client, "/api/v1/courses") if isinstance(c, dict)]
        if mapping.course_ids is not None:
            chosen = set(mapping.course_ids)
            wanted = [c for c in wanted if str(c.get(connector.course_key(mapping))) in chosen]
        profiles: dict[str, dict[str, Any]] = {}
        for summary in wanted:
            report.courses += 1
            course = _get(client, f"/api/v1/courses/id:{summary['id']}")
            fresh = read.take(course)
            if not fresh:
                continue
            if connector.learner_key(mapping) != "id":
                _add_profiles(client, fresh, profiles)
            report.read += len(fresh)
            doc = {
                "domain": domain,
                "course": {k: v for k, v in course.items() if k != "users"},
                "users": fresh,
            }
            incoming = Incoming(
                body=json.dumps(doc).encode(), headers={"content-type": "application/json"}
            )
            outcome = intake.process(session, actor, connector, incoming)
            report.accepted += outcome.accepted
            report.replayed += outcome.replayed
            if outcome.reason is not None:
                letter = intake.keep(session, actor, connector, incoming, outcome)
                report.dead_letters.append(str(letter.id))
    cursor.position = {"since": read.newest, "seen": sorted(read.newest_seen)}
    cursor.last_polled_at = utcnow()
    cursor.last_error = None
    return report


@dataclass
class _Read:
    """The cursor as it was (``since``, ``seen``) and as it moves during one poll."""

    since: int
    seen: set[str]
    newest: int = -1
    newest_seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.newest, self.newest_seen = self.since, set(self.seen)

    def take(self, course: dict[str, Any]) -> list[dict[str, Any]]:
        """The course's completions this cursor has not read, moving the cursor past them."""
        fresh = []
        for user in course.get("users") or []:
            stamp = _stamp(user) if isinstance(user, dict) else None
            if stamp is None or stamp < self.since:
                continue
            key = _key_at(user, course)
            if stamp == self.since and key in self.seen:
                continue
            fresh.append(user)
            if stamp > self.newest:
                self.newest, self.newest_seen = stamp, set()
            if stamp == self.newest:
                self.newest_seen.add(key)
        return fresh


def _add_profiles(
    client: httpx.Client, users: list[dict[str, Any]], profiles: dict[str, dict[str, Any]]
) -> None:
    """Course user lists carry no e-mail or login: read each user once per poll."""
    for user in users:
        profile = profiles.get(_key(user))
        if profile is None:
            profile = _get(client, f"/api/v1/users/id:{user['id']}")
            profiles[_key(user)] = profile
        user.setdefault("email", profile.get("email"))
        user.setdefault("login", profile.get("login"))


def _cursor(session: Session, organization_id: uuid.UUID, livemode: bool) -> PollCursor:
    """The cursor row, locked: two pollers of one organization take turns."""
    cursor = session.scalar(
        select(PollCursor)
        .where(
            PollCursor.organization_id == organization_id,
            PollCursor.connector == CONNECTOR,
            PollCursor.livemode == livemode,
        )
        .with_for_update()
    )
    if cursor is None:
        cursor = PollCursor(
            organization_id=organization_id, connector=CONNECTOR, livemode=livemode, position={}
        )
        session.add(cursor)
        session.flush()
    return cursor


def _stamp(user: dict[str, Any]) -> int | None:
    raw = user.get("completed_on_timestamp")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _key_at(user: dict[str, Any], course: dict[str, Any]) -> str:
    return f"{user.get('id')}:{course.get('id')}"


def configured(session: Session) -> list[uuid.UUID]:
    """Organizations that set a TalentLMS base URL (the ones a scheduler polls)."""
    rows = session.scalars(select(ConnectorConfig).where(ConnectorConfig.connector == CONNECTOR))
    return [r.organization_id for r in rows if r.mapping.get("base_url")]


def poll_all(database: Database, box: SecretBox) -> list[PollReport]:
    """One round over every configured organization and mode; each in its own transaction."""
    with database.read_session() as session:
        organizations = configured(session)
    reports = []
    for organization_id in organizations:
        for livemode in (True, False):
            try:
                with database.session() as session:
                    if not config.active_secrets(
                        session, box, organization_id, CONNECTOR, livemode=livemode
                    ):
                        continue
                    reports.append(poll(session, box, organization_id, livemode=livemode))
            except (httpx.HTTPError, ValueError, AppError) as exc:
                # One organization's unreachable LMS must not stop the others' polls.
                log.warning("talentlms poll of %s failed: %s", organization_id, exc)
                _record_error(database, organization_id, livemode, str(exc))
    return reports


def _record_error(
    database: Database, organization_id: uuid.UUID, livemode: bool, error: str
) -> None:
    with database.session() as session:
        cursor = session.scalar(
            select(PollCursor).where(
                PollCursor.organization_id == organization_id,
                PollCursor.connector == CONNECTOR,
                PollCursor.livemode == livemode,
            )
        )
        if cursor is not None:
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
