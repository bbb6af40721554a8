"""TalentLMS polling against a real HTTP server on loopback that imitates its API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.config import DEFAULT_SECRET
from laurel.db import Database
from laurel.events.connectors import polling
from laurel.events.connectors.models import PollCursor
from laurel.events.connectors.secretbox import SecretBox
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.events.connectors.support import add_secret, count_events, set_mapping, stored
from tests.events.connectors.talentlms_server import FakeTalentLms, serve

API_KEY = "talentlms-api-key-0123456789"
BOX = SecretBox(DEFAULT_SECRET)


@pytest.fixture
def talentlms() -> Iterator[FakeTalentLms]:
    api = FakeTalentLms(api_key=API_KEY)
    api.course("101", "Security Awareness 2026", "SEC-101")
    api.course("102", "Leadership Basics", "LEAD-1")
    for user_id, login in (("1", "ana"), ("2", "ben"), ("3", "cy")):
        api.user(user_id, login, f"{login}@example.com")
    with serve(api) as running:
        yield running


def _configure(client: TestClient, tenant: Tenant, api: FakeTalentLms, **mapping: object) -> None:
    add_secret(client, tenant, "talentlms", secret=API_KEY)
    set_mapping(client, tenant, "talentlms", base_url=api.url, **mapping)


def _poll(database: Database, tenant: Tenant) -> polling.PollReport:
    with database.session() as session:
        return polling.poll(session, BOX, tenant.id)


def test_cursor_reads_each_completion_once(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms)
    t = int(time.time()) - 3600
    talentlms.enrol("101", "1", t)
    talentlms.enrol("101", "2", None)  # enrolled, not completed: nothing to read
    talentlms.enrol("102", "3", t - 60)

    first = _poll(database, tenant)
    assert (first.courses, first.read, first.accepted, first.dead_letters) == (2, 2, 2, [])
    with database.read_session() as session:
        cursor = session.scalars(select(PollCursor)).one()
        assert cursor.position == {"since": t, "seen": ["1:101"]}

    assert _poll(database, tenant).read == 0

    # A completion in the same second as the newest one read, and a later one: both new.
    talentlms.enrol("102", "1", t)
    talentlms.enrol("101", "2", t + 5)
    third = _poll(database, tenant)
    assert (third.read, third.accepted, third.replayed) == (2, 2, 0)
    assert _poll(database, tenant).read == 0
    assert count_events(database) == 4


def test_mapping_email_and_course_filter(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(
        client, tenant, talentlms, learner_id="email", course_id="code", course_ids=["SEC-101"]
    )
    t = int(time.time()) - 600
    talentlms.enrol("101", "1", t)
    talentlms.enrol("102", "3", t)
    report = _poll(database, tenant)
    assert (report.courses, report.accepted) == (1, 1)
    with database.read_session() as session:
        from laurel.events.models import CompletionEvent

        event_id = str(session.scalars(select(CompletionEvent.id)).one())
    event = stored(database, event_id)
    assert (event.learner, event.course, event.outcome) == (
        "ana@example.com",
        "SEC-101",
        "completed",
    )
    assert int(event.occurred_at.timestamp()) == t
    assert event.course_title == "Security Awareness 2026"
    assert event.source == "talentlms"
    assert "/api/v1/users/id:1" in talentlms.requests


def test_unmappable_completion_is_a_dead_letter_and_the_cursor_moves(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms, learner_id="email")
    talentlms.users["2"]["email"] = ""
    t = int(time.time()) - 600
    talentlms.enrol("101", "1", t)
    talentlms.enrol("101", "2", t)
    report = _poll(database, tenant)
    assert report.accepted == 1
    assert len(report.dead_letters) == 1
    letter = client.get(
        f"/api/v1/dead-letters/{report.dead_letters[0]}", headers=tenant.headers
    ).json()
    assert letter["connector"] == "talentlms"
    assert letter["errors"] == [
        {"index": 1, "field": "users[1].email", "message": "Field required"}
    ]
    assert _poll(database, tenant).read == 0

    set_mapping(client, tenant, "talentlms", base_url=talentlms.url, learner_id="id")
    replay = client.post(
        f"/api/v1/dead-letters/{report.dead_letters[0]}/replay", headers=tenant.headers
    )
    assert replay.json()["dead_letter"]["state"] == "resolved"
    assert replay.json()["delivery"]["accepted"] == 1
    assert count_events(database) == 2


def test_cli_poll_and_errors(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    unconfigured = laurel("connectors", "poll", "talentlms", "--org", tenant.slug, url=database.url)
    assert unconfigured.returncode == 2
    assert "set mapping.base_url for talentlms" in unconfigured.stderr

    _configure(client, tenant, talentlms)
    talentlms.enrol("101", "1", int(time.time()) - 60)
    result = laurel("connectors", "poll", "talentlms", "--org", tenant.slug, url=database.url)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "2 courses, 1 new completions read: 1 stored, 0 already stored, 0 dead letters"
    )

    talentlms.api_key = "rotated-on-the-talentlms-side"
    refused = laurel("connectors", "poll", "talentlms", "--org", tenant.slug, url=database.url)
    assert refused.returncode == 2
    assert "401" in refused.stderr
    not_polled = laurel("connectors", "poll", "moodle", "--org", tenant.slug, url=database.url)
    assert "moodle is not polled" in not_polled.stderr


def test_scheduler_polls_and_records_failures(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms)
    talentlms.enrol("101", "1", int(time.time()) - 60)
    reports = polling.poll_all(database, BOX)
    assert [(r.organization_id, r.livemode, r.accepted) for r in reports] == [(tenant.id, True, 1)]

    talentlms.api_key = "changed"
    assert polling.poll_all(database, BOX) == []
    with database.read_session() as session:
        cursor = session.scalars(select(PollCursor)).one()
        assert cursor.last_error is not None
        assert "401" in cursor.last_error

    talentlms.hit.clear()
    thread, stop = polling.start_scheduler(database, BOX, interval=3600)
    try:
        assert talentlms.hit.wait(30), "the scheduler did not poll"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
