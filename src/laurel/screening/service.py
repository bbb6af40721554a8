"""Sanctions lists and name screening: importing list versions, the per-process index, checks.

List versions are global and immutable: an import that brings the same files (same checksum)
is the version already stored. Each process builds one :class:`NameIndex` per list version the
first time it is needed and keeps it; a new import is a new version, so no index is ever stale.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.config import Settings, get_settings
from laurel.db import READONLY, Database
from laurel.kit.clock import utcnow
from laurel.kit.errors import NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.orm import from_row
from laurel.kit.sql import insert_ignore, insert_many
from laurel.organizations import revision
from laurel.organizations import service as organizations
from laurel.rewards.models import Reward
from laurel.screening import countries, lists
from laurel.screening.matcher import Match, NameIndex
from laurel.screening.models import ListEntry, ListVersion, ScreeningDecision, ScreeningResult
from laurel.screening.sources import Fetched

log = logging.getLogger("laurel.screening")

MAX_STORED_MATCHES = 10
"""Matches kept on a result (best first); a name with more is a review either way."""
ENTRY_TYPES = frozenset({"individual", "entity", "vessel", "aircraft"})


class ListVersionNotFound(NotFound):
    code = "list_version_not_found"


@dataclass(frozen=True, slots=True)
class Policy:
    """The screening settings, parsed once."""

    threshold: float
    countries: frozenset[str]
    entry_types: frozenset[str]
    without_list: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Policy:
        settings = settings or get_settings()
        types = frozenset(t.strip() for t in settings.screening_entry_types.split(",") if t.strip())
        unknown = sorted(types - ENTRY_TYPES)
        if unknown or not types:
            raise field_error(
                "screening_entry_types",
                f"unknown types {unknown}; use some of {sorted(ENTRY_TYPES)}",
            )
        return cls(
            threshold=settings.screening_threshold,
            countries=countries.parse(settings.screening_countries),
            entry_types=types,
            without_list=settings.screening_without_list,
        )


# ---------------------------------------------------------------- list versions


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    version: ListVersion
    created: bool
    """False when the same files were imported before: nothing changed."""
    rescreened: int = 0


def checksum(files: dict[str, bytes]) -> str:
    """SHA-256 over each file's name and SHA-256, in name order: independent of where from."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}:{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return digest.hexdigest()


def store_version(
    session: Session, fetched: Fetched, *, actor: str, list_date: datetime | None = None
) -> ImportOutcome:
    """Store the fetched files as a list version (once per checksum), audited in every
    organization's trail. Re-screening held rewards is the caller's next step
    (:func:`laurel.screening.cases.rescreen_held`), in the same unit of work."""
    total = checksum(fetched.files)
    existing = session.scalar(select(ListVersion).where(ListVersion.checksum == total))
    if existing is not None:
        return ImportOutcome(existing, created=False)
    entries = [
        e
        for spec in lists.SPECS
        if spec.primary in fetched.files
        for e in lists.parse(spec, fetched.files)
    ]
    if not entries:
        raise field_error("source", f"{fetched.source}: the list files hold no entries")
    version_id = uuid7()
    inserted = insert_ignore(
        session,
        ListVersion.__table__,  # type: ignore[arg-type]
        {
            "id": version_id,
            "checksum": total,
            "list_date": list_date or fetched.list_date,
            "list_date_source": "given" if list_date else fetched.list_date_source,
            "source": fetched.source,
            "files": {
                name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                for name, data in sorted(fetched.files.items())
            },
            "entries": len(entries),
            "imported_at": utcnow(),
            "imported_by": actor,
        },
        ["checksum"],
    )
    if not inserted:  # a concurrent import of the same files won
        winner = session.scalar(select(ListVersion).where(ListVersion.checksum == total))
        assert winner is not None
        return ImportOutcome(winner, created=False)
    session.execute(
        insert(ListEntry),
        [
            {
                "id": uuid7(),
                "list_version_id": version_id,
                "list_code": e.list_code,
                "ent_num": e.ent_num,
                "name": e.name[:500],
                "sdn_type": e.sdn_type,
                "programs": e.programs,
                "remarks": e.remarks,
                "aliases": e.aliases,
                "countries": e.countries,
            }
            for e in entries
        ],
    )
    version = session.get(ListVersion, version_id)
    assert version is not None
    counts = {
        spec.code: sum(1 for e in entries if e.list_code == spec.code) for spec in lists.SPECS
    }
    for organization in organizations.list_all(session):
        audit.record(
            session,
            organization_id=organization.id,
            actor=actor,
            action="screening:list:import",
            target_type="sanctions_list_version",
            target_id=version_id,
            details={"checksum": total, "source": fetched.source, "entries": counts},
        )
    return ImportOutcome(version, created=True)


def current_version(session: Session) -> ListVersion | None:
    """The newest imported list version, or None before the first import."""
    return session.scalar(
        select(ListVersion).order_by(ListVersion.imported_at.desc(), ListVersion.id.desc()).limit(1)
    )


def list_versions(session: Session, *, limit: int = 50) -> list[ListVersion]:
    return list(
        session.scalars(
            select(ListVersion)
            .order_by(ListVersion.imported_at.desc(), ListVersion.id.desc())
            .limit(limit)
        )
    )


# ---------------------------------------------------------------- the index


_IndexKey = tuple[uuid.UUID, frozenset[str]]
_indexes: dict[_IndexKey, NameIndex] = {}
_index_lock = threading.Lock()
_building: set[_IndexKey] = set()
_building_lock = threading.Lock()
_KEEP_INDEXES = 2


def index_for(session: Session, version_id: uuid.UUID, types: frozenset[str]) -> NameIndex:
    """The name index of a list version, built once per process (under a lock, so concurrent
    first requests build it once) and kept while it is one of the two newest used."""
    key = (version_id, types)
    found = _indexes.get(key)
    if found is not None:
        return found
    with _index_lock:
        found = _indexes.get(key)
        if found is not None:
            return found
        rows = session.execute(
            select(
                ListEntry.list_code,
                ListEntry.ent_num,
                ListEntry.name,
                ListEntry.sdn_type,
                ListEntry.programs,
                ListEntry.aliases,
                ListEntry.countries,
            ).where(ListEntry.list_version_id == version_id)
        )
        entries = [
            lists.Entry(
                list_code=r.list_code,
                ent_num=r.ent_num,
                name=r.name,
                sdn_type=r.sdn_type,
                programs=list(r.programs),
                # Remarks are most of a list's size: read per match, not kept in the index.
                remarks="",
                aliases=list(r.aliases),
                countries=list(r.countries),
            )
            for r in rows
        ]
        index = NameIndex(entries, types=types)
        while len(_indexes) >= _KEEP_INDEXES:
            _indexes.pop(next(iter(_indexes)))
        _indexes[key] = index
        return index


def current_version_id(session: Session, organization_id: uuid.UUID) -> uuid.UUID | None:
    """The newest list version's id, read once per list import rather than per event: an
    import gives every organization a fresh configuration revision (migration 0022)."""

    def build() -> uuid.UUID | None:
        version = current_version(session)
        return None if version is None else version.id

    return revision.shared(session, organization_id, "screening.version", build)


def pick_version(
    session: Session, policy: Policy, organization_id: uuid.UUID | None = None
) -> uuid.UUID | None:
    """The list version to screen against: the newest one, unless this process has not built
    its index yet but has an older one ready. Then the older one is used (results name it)
    while the newest is built in a background thread, so a request never spends seconds
    building an index inside its transaction (on SQLite: holding the write lock). Only a
    process with no index at all builds in the caller's thread; start-up (:func:`warm`) and
    imports (:func:`laurel.screening.cases.rescreen_held`) build ahead.
    """
    if organization_id is None:
        newest = current_version(session)
        version_id = None if newest is None else newest.id
    else:
        version_id = current_version_id(session, organization_id)
    if version_id is None:
        return None
    if (version_id, policy.entry_types) in _indexes:
        return version_id
    built = [v for v, types in list(_indexes) if types == policy.entry_types]
    # Only versions of this database (a process normally has one; tests have many).
    ready = session.scalars(select(ListVersion.id).where(ListVersion.id.in_(built))).all()
    if not ready:
        return version_id
    _build_in_background(session.get_bind(), version_id, policy.entry_types)
    return max(ready)  # uuid7 ids sort by creation: the newest ready version


def _read_only_session(bind: Any) -> Session:
    session = Session(bind)
    session.info[READONLY] = True
    if bind.dialect.name == "sqlite":
        session.connection(execution_options={"laurel_readonly": True})
    return session


def _build_in_background(bind: Any, version_id: uuid.UUID, types: frozenset[str]) -> None:
    key = (version_id, types)
    with _building_lock:
        if key in _building:
            return
        _building.add(key)

    def build() -> None:
        try:
            with _read_only_session(bind) as session:
                index_for(session, version_id, types)
        except Exception:  # the next gate call tries again; screening goes on meanwhile
            log.exception("building the sanctions index of list version %s failed", version_id)
        finally:
            with _building_lock:
                _building.discard(key)

    threading.Thread(target=build, name="laurel-screening-index", daemon=True).start()


def warm(database: Database, policy: Policy | None = None) -> None:
    """Build the newest list version's index now (at start-up), if there is a list."""
    policy = policy or Policy.from_settings()
    try:
        with database.read_session() as session:
            version = current_version(session)
            if version is not None:
                index_for(session, version.id, policy.entry_types)
    except Exception:  # a process must start even if the lists cannot be read yet
        log.exception("building the sanctions index at start-up failed")


# ---------------------------------------------------------------- screening


@dataclass(frozen=True, slots=True)
class Screening:
    """The outcome of screening one name and country against one list version."""

    decision: ScreeningDecision
    list_version_id: uuid.UUID | None
    name: str | None
    country: str | None
    country_hit: str | None
    threshold: float
    matches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        return max((m["score"] for m in self.matches), default=None)


def _remarks(
    session: Session, version_id: uuid.UUID, found: list[Match]
) -> dict[tuple[str, int], str]:
    if not found:
        return {}
    nums = {m.entry.ent_num for m in found}
    rows = session.execute(
        select(ListEntry.list_code, ListEntry.ent_num, ListEntry.remarks).where(
            ListEntry.list_version_id == version_id, ListEntry.ent_num.in_(nums)
        )
    )
    return {(r.list_code, r.ent_num): r.remarks for r in rows}


def screen(
    session: Session,
    name: str | None,
    country: str | None,
    policy: Policy,
    version_id: uuid.UUID | None,
) -> Screening:
    """Screen a name and a country against a list version (:func:`pick_version`); no writes."""
    code = countries.normalise(country)
    hit = countries.sanctioned(code, policy.countries)
    if version_id is None:
        decision = ScreeningDecision.review if hit else ScreeningDecision.unscreened
        return Screening(decision, None, name, code, hit, policy.threshold)
    found: list[Match] = []
    if name and name.strip():
        index = index_for(session, version_id, policy.entry_types)
        found = index.search(name, policy.threshold)[:MAX_STORED_MATCHES]
    remarks = _remarks(session, version_id, found)
    matches = [
        {
            "list": m.entry.list_code,
            "entry_id": str(m.entry.ent_num),
            "name": m.entry.name,
            "matched_name": m.matched_name,
            "type": m.entry.sdn_type,
            "score": round(m.score, 4),
            "programs": m.entry.programs,
            "countries": m.entry.countries,
            "remarks": remarks.get((m.entry.list_code, m.entry.ent_num), ""),
        }
        for m in found
    ]
    decision = ScreeningDecision.review if (hit or matches) else ScreeningDecision.clear
    return Screening(decision, version_id, name, code, hit, policy.threshold, matches)


def _result_row(
    screening: Screening,
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    actor: str,
    reward_id: uuid.UUID | None,
    learner_id: uuid.UUID | None,
    decision: str | None,
) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "organization_id": organization_id,
        "livemode": livemode,
        "reward_id": reward_id,
        "learner_id": learner_id,
        "list_version_id": screening.list_version_id,
        "screen_key": str(screening.list_version_id or "none"),
        "query_name": (screening.name or "")[:500] or None,
        "query_country": screening.country,
        "decision": decision or screening.decision,
        "score": screening.score,
        "threshold": screening.threshold,
        "country_hit": screening.country_hit,
        "matches": screening.matches,
        "actor": actor,
        "created_at": utcnow(),
    }


def record(
    session: Session,
    screening: Screening,
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    actor: str,
    reward_id: uuid.UUID | None = None,
    learner_id: uuid.UUID | None = None,
    decision: str | None = None,
) -> ScreeningResult:
    """Store a screening (every one is kept: gate runs and manual checks alike)."""
    result = ScreeningResult(
        **_result_row(
            screening,
            organization_id=organization_id,
            livemode=livemode,
            actor=actor,
            reward_id=reward_id,
            learner_id=learner_id,
            decision=decision,
        )
    )
    session.add(result)
    session.flush()
    return result


def record_many(
    session: Session,
    screenings: Sequence[tuple[Reward, Screening, str]],
    *,
    actor: str,
) -> dict[uuid.UUID, ScreeningResult]:
    """Store the screenings of many rewards (reward, screening, decision) in one INSERT."""
    if not screenings:
        return {}
    rows = [
        _result_row(
            screening,
            organization_id=reward.organization_id,
            livemode=reward.livemode,
            actor=actor,
            reward_id=reward.id,
            learner_id=reward.learner_id,
            decision=decision,
        )
        for reward, screening, decision in screenings
    ]
    insert_many(session, ScreeningResult.__table__, rows)  # type: ignore[arg-type]
    return {
        reward.id: from_row(ScreeningResult, row)
        for (reward, _, _), row in zip(screenings, rows, strict=True)
    }


def check(
    session: Session,
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    actor: str,
    name: str,
    country: str | None,
) -> tuple[Screening, ScreeningResult]:
    """A manual check (CLI or API): screened, stored and audited; never holds anything."""
    if not name.strip():
        raise field_error("name", "must not be blank")
    policy = Policy.from_settings()
    screening = screen(session, name, country, policy, pick_version(session, policy))
    result = record(
        session, screening, organization_id=organization_id, livemode=livemode, actor=actor
    )
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="screening:name:check",
        target_type="screening_result",
        target_id=result.id,
        details={"decision": screening.decision, "matches": len(screening.matches)},
    )
    return screening, result
