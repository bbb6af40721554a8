"""TalentLMS polling against a real HTTP server on loopback that imitates its API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.config import DEFAULT_SECRET
from laurel.db import Database
from laurel.events.connectors import polling
from laurel.events.connectors.models import ConnectorConfig, PollCursor
from laurel.events.connectors.secretbox import SecretBox
from laurel.events.models import CompletionEvent
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.events.connectors.support import (
    add_secret,
    count_dead_letters,
    count_events,
    set_mapping,
    stored,
)
from tests.events.connectors.talentlms_server import FakeTalentLms, serve

API_KEY = "talentlms-api-key-0123456789"
BOX = SecretBox(DEFAULT_SECRET)
HOUR = 3600


@dataclass
class FakeClock:
    """The poller's clock and sleep: waits are counted, never slept."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


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


def _poll(database: Database, tenant: Tenant, clock: FakeClock | None = None) -> polling.PollReport:
    waits = clock or FakeClock()
    return polling.poll(database, BOX, tenant.id, clock=waits.monotonic, sleep=waits.sleep)


def _cursor(database: Database) -> PollCursor:
    """The cursor row as stored now, detached from its session."""
    with database.read_session() as session:
        cursor = session.scalars(select(PollCursor)).one()
        session.expunge(cursor)
        return cursor


def _counts(report: polling.PollReport) -> tuple[int, int, int, int]:
    return report.read, report.accepted, report.replayed, len(report.dead_letters)


def test_cursor_reads_each_completion_once(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms)
    before = int(time.time())
    t = before - 600
    talentlms.enrol("101", "1", t)
    talentlms.enrol("101", "2", None)  # enrolled, not completed: nothing to read
    talentlms.enrol("102", "3", t - 60)
    clock = FakeClock()

    first = _poll(database, tenant, clock)
    after = int(time.time())
    assert (first.courses, first.read, first.accepted, first.dead_letters) == (2, 2, 2, [])
    assert first.complete
    position = _cursor(database).position
    # Never past the poll's start: the last hour is read again by the next poll.
    assert before - HOUR <= position["since"] <= after - HOUR
    assert position["seen"] == {f"1:101:{t}": t, f"3:102:{t - 60}": t - 60}
    assert "round" not in position

    # Read again inside the overlap: replays, nothing stored twice.
    assert _counts(_poll(database, tenant, clock)) == (2, 0, 2, 0)

    # A completion in the same second as one already read, and a later one: both new.
    talentlms.enrol("102", "1", t)
    talentlms.enrol("101", "2", t + 5)
    assert _counts(_poll(database, tenant, clock)) == (4, 2, 2, 0)
    assert _counts(_poll(database, tenant, clock)) == (4, 0, 4, 0)
    assert count_events(database) == 4
    assert clock.slept == []  # two courses are far below the rate limit


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

    # Completions already read need no profile: the next poll asks for none.
    talentlms.requests.clear()
    assert _counts(_poll(database, tenant)) == (1, 0, 1, 0)
    assert talentlms.requests == ["/api/v1/courses", "/api/v1/courses/id:101"]


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
    # Read again inside the overlap: no second dead letter.
    assert _counts(_poll(database, tenant)) == (2, 0, 2, 0)
    assert count_dead_letters(database) == 1

    set_mapping(client, tenant, "talentlms", base_url=talentlms.url, learner_id="id")
    replay = client.post(
        f"/api/v1/dead-letters/{report.dead_letters[0]}/replay", headers=tenant.headers
    )
    assert replay.json()["dead_letter"]["state"] == "resolved"
    assert replay.json()["delivery"]["accepted"] == 1
    assert count_events(database) == 2


def test_clock_ahead_completion_does_not_move_the_cursor_past_the_poll(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    """A portal clock an hour ahead: that completion is refused, the ones after it are not."""
    _configure(client, tenant, talentlms)
    before = int(time.time())
    ahead = before + HOUR
    talentlms.enrol("101", "1", ahead)
    first = _poll(database, tenant)
    after = int(time.time())
    assert _counts(first) == (1, 0, 0, 1)
    letter = client.get(
        f"/api/v1/dead-letters/{first.dead_letters[0]}", headers=tenant.headers
    ).json()
    assert letter["reason"] == "refused"
    assert letter["errors"][0]["message"] == "validation_error: is in the future"
    position = _cursor(database).position
    assert before - HOUR <= position["since"] <= after - HOUR
    assert position["seen"] == {f"1:101:{ahead}": ahead}

    # A real completion a minute ago, stamped long before the one from the future: read.
    talentlms.enrol("102", "2", int(time.time()) - 60)
    second = _poll(database, tenant)
    assert _counts(second) == (2, 1, 1, 0)
    assert count_events(database) == 1
    assert count_dead_letters(database) == 1


def test_a_cursor_left_in_the_future_is_pulled_back(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    """Cursors written before the fix: one moved to a future stamp, in the old format."""
    _configure(client, tenant, talentlms)
    now = int(time.time())
    talentlms.enrol("101", "1", now - 600)  # read and stored before the fix
    assert _poll(database, tenant).accepted == 1
    talentlms.enrol("102", "2", now - 300)  # skipped by the old cursor
    with database.session() as session:
        cursor = session.scalars(select(PollCursor)).one()
        cursor.position = {"since": now + HOUR, "seen": ["1:101"]}

    report = _poll(database, tenant)
    assert _counts(report) == (2, 1, 1, 0)
    assert _cursor(database).position["since"] <= int(time.time()) - HOUR
    assert count_events(database) == 2


def test_completion_recorded_mid_poll_is_read_by_the_next_poll(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    """Course 101 is read, then gains a completion stamped before course 102's newest."""
    _configure(client, tenant, talentlms)
    now = int(time.time())
    talentlms.enrol("102", "2", now - 100)

    def complete_in_read_course(path: str) -> None:
        if path == "/api/v1/courses/id:102" and not talentlms.courses["101"]["users"]:
            talentlms.enrol("101", "1", now - 150)

    talentlms.on_request = complete_in_read_course
    first = _poll(database, tenant)
    assert _counts(first) == (1, 1, 0, 0)
    assert talentlms.courses["101"]["users"]  # recorded while the poll ran

    second = _poll(database, tenant)
    assert _counts(second) == (2, 1, 1, 0)
    assert count_events(database) == 2
    assert _counts(_poll(database, tenant)) == (2, 0, 2, 0)


def test_calls_are_paced_under_the_rate_limit(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms, options={"calls_per_5_seconds": 3})
    for course_id in ("103", "104", "105"):
        talentlms.course(course_id, f"Course {course_id}", f"C-{course_id}")
    clock = FakeClock()
    talentlms.clock = clock.monotonic
    report = _poll(database, tenant, clock)
    assert report.courses == 5
    # Six calls (the list and five courses): three, a wait for the window, three.
    assert talentlms.times == [1000.0] * 3 + [1005.0] * 3
    assert clock.slept == [5.0]
    for at in talentlms.times:
        assert len([t for t in talentlms.times if at <= t < at + 5]) <= 3


def test_rate_limit_retry_after_is_waited_out(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms)
    talentlms.enrol("101", "1", int(time.time()) - 60)
    talentlms.throttled, talentlms.retry_after = 2, "7"
    clock = FakeClock()
    report = _poll(database, tenant, clock)
    assert clock.slept == [7.0, 7.0]
    assert talentlms.requests[:3] == ["/api/v1/courses"] * 3
    assert (report.courses, report.accepted, report.complete) == (2, 1, True)
    assert _cursor(database).last_error is None


def test_rate_limit_that_holds_keeps_progress_and_the_next_poll_resumes(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms)
    now = int(time.time())
    talentlms.enrol("101", "1", now - 60)
    talentlms.enrol("102", "2", now - 60)
    talentlms.failures["/api/v1/courses/id:102"] = (429, {"Retry-After": "1"})
    clock = FakeClock()
    before = int(time.time())
    with pytest.raises(polling.RateLimited):
        _poll(database, tenant, clock)
    after = int(time.time())
    assert clock.slept == [1.0, 1.0, 1.0]  # three waits, then the poll gives up
    assert count_events(database) == 1  # course 101 was committed before 102 failed
    cursor = _cursor(database)
    assert cursor.last_error is not None
    assert cursor.last_error.startswith("course 102: 429: TalentLMS's rate limit held")
    round_ = cursor.position["round"]
    assert round_["done"] == ["101"]
    assert before <= round_["started"] <= after
    assert cursor.position["since"] == 0  # not moved until every course was read

    del talentlms.failures["/api/v1/courses/id:102"]
    talentlms.requests.clear()
    report = _poll(database, tenant)
    assert talentlms.requests == ["/api/v1/courses", "/api/v1/courses/id:102"]
    assert (report.courses, report.read, report.accepted, report.complete) == (1, 1, 1, True)
    cursor = _cursor(database)
    assert cursor.last_error is None
    # The round began with the first poll: the cursor moves to that start, less the overlap.
    assert cursor.position["since"] == round_["started"] - HOUR
    assert "round" not in cursor.position
    assert count_events(database) == 2


def test_a_failing_course_does_not_stop_the_others(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms)
    talentlms.course("103", "Ethics", "ETH-1")
    now = int(time.time())
    for course_id, user_id in (("101", "1"), ("102", "2"), ("103", "3")):
        talentlms.enrol(course_id, user_id, now - 60)
    talentlms.failures["/api/v1/courses/id:102"] = (500, {})
    clock = FakeClock()
    (report,) = polling.poll_all(database, BOX, clock=clock.monotonic, sleep=clock.sleep)
    assert (report.courses, report.accepted, report.complete) == (2, 2, False)
    assert len(report.errors) == 1
    assert report.errors[0].startswith("course 102: Server error '500")
    cursor = _cursor(database)
    assert cursor.last_error == report.errors[0]
    assert cursor.position["round"]["done"] == ["101", "103"]

    del talentlms.failures["/api/v1/courses/id:102"]
    (again,) = polling.poll_all(database, BOX, clock=clock.monotonic, sleep=clock.sleep)
    assert (again.courses, again.accepted, again.complete, again.errors) == (1, 1, True, [])
    assert _cursor(database).last_error is None
    assert count_events(database) == 3


def test_a_first_poll_that_fails_records_last_error(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(client, tenant, talentlms)
    talentlms.api_key = "not-the-key-laurel-has"
    assert polling.poll_all(database, BOX) == []
    cursor = _cursor(database)
    assert cursor.last_error is not None
    assert cursor.last_error.startswith(
        "GET /api/v1/courses: 401: TalentLMS refused every active key (1 tried)"
    )
    assert cursor.last_polled_at is not None
    assert cursor.position == {}
    # An admin sees it with the connector.
    shown = client.get("/api/v1/connectors/talentlms", headers=tenant.headers).json()["poll"]
    assert shown["last_error"] == cursor.last_error
    assert (shown["since"], shown["round_open"]) == (None, False)
    webhook = client.get("/api/v1/connectors/moodle", headers=tenant.headers).json()
    assert webhook["poll"] is None


def test_a_poll_that_cannot_start_records_last_error(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    """Options stored before a check existed: the poll stops before any call, visibly."""
    _configure(client, tenant, talentlms)
    with database.session() as session:
        config = session.scalars(select(ConnectorConfig)).one()
        config.mapping = {"base_url": talentlms.url, "options": {"date_format": "D/M/Y"}}
    assert polling.poll_all(database, BOX) == []
    assert talentlms.requests == []
    cursor = _cursor(database)
    assert cursor.last_error == (
        "talentlms mapping.options.date_format: "
        "Input should be 'DD/MM/YYYY', 'MM/DD/YYYY' or 'YYYY/MM/DD'"
    )


def test_key_rotation_tries_older_keys_on_401(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    """docs/connectors/webhooks.md: add the new key in Laurel first, then in TalentLMS."""
    _configure(client, tenant, talentlms)
    new_key = "talentlms-api-key-rotated-9876"
    add_secret(client, tenant, "talentlms", secret=new_key, name="rotated")
    talentlms.enrol("101", "1", int(time.time()) - 60)

    report = _poll(database, tenant)
    assert report.accepted == 1
    assert talentlms.auths == [new_key, API_KEY, API_KEY, API_KEY]
    # The key that worked is the one marked used: the old key cannot be retired yet.
    secrets = client.get("/api/v1/connectors/talentlms", headers=tenant.headers).json()["secrets"]
    used = {s["hint"]: s["last_used_at"] is not None for s in secrets}
    assert used == {API_KEY[-4:]: True, new_key[-4:]: False}

    talentlms.api_key = new_key  # TalentLMS moved to the new key
    talentlms.auths.clear()
    _poll(database, tenant)
    assert talentlms.auths == [new_key] * 3

    talentlms.api_key = "neither"
    talentlms.auths.clear()
    with pytest.raises(httpx.HTTPStatusError, match="refused every active key \\(2 tried\\)"):
        _poll(database, tenant)
    assert talentlms.auths == [new_key, API_KEY]


def test_completed_on_without_timestamp(
    client: TestClient, tenant: Tenant, database: Database, talentlms: FakeTalentLms
) -> None:
    _configure(
        client,
        tenant,
        talentlms,
        timezone="Asia/Kolkata",
        options={"date_format": "MM/DD/YYYY"},
    )
    done = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    local = done.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%m/%d/%Y, %H:%M:%S")
    talentlms.enrol("101", "1", None, completed_on=local)
    unreadable = "25/11/2026, 14:05:00"  # month 25: the portal writes DD/MM/YYYY
    talentlms.enrol("102", "2", None, completed_on=unreadable)

    report = _poll(database, tenant)
    assert _counts(report) == (2, 1, 0, 1)
    with database.read_session() as session:
        event_id = str(session.scalars(select(CompletionEvent.id)).one())
    assert stored(database, event_id).occurred_at == done
    letter = client.get(
        f"/api/v1/dead-letters/{report.dead_letters[0]}", headers=tenant.headers
    ).json()
    assert letter["errors"] == [
        {
            "index": 0,
            "field": "users[0].completed_on",
            "message": "'25/11/2026, 14:05:00' is not a date and time as MM/DD/YYYY, HH:MM:SS "
            "(completed_on_timestamp is empty); set mapping.options.date_format to the "
            "portal's date format",
        }
    ]
    assert _cursor(database).position["undated"] == [f"2:102:{unreadable}"]
    # Neither is read as new again, and the unreadable one is not dead-lettered twice.
    assert _counts(_poll(database, tenant)) == (2, 0, 2, 0)
    assert count_dead_letters(database) == 1

    # The administrator sets the portal's real format and replays the letter.
    set_mapping(
        client,
        tenant,
        "talentlms",
        base_url=talentlms.url,
        timezone="Asia/Kolkata",
        options={"date_format": "DD/MM/YYYY"},
    )
    replay = client.post(
        f"/api/v1/dead-letters/{report.dead_letters[0]}/replay", headers=tenant.headers
    ).json()
    assert replay["dead_letter"]["state"] == "resolved"
    assert count_events(database) == 2

    refused = client.put(
        "/api/v1/connectors/talentlms/mapping",
        json={"base_url": talentlms.url, "options": {"date_format": "D/M/Y"}},
        headers=tenant.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "mapping.options.date_format"


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
        == "2 courses, 1 completions read: 1 stored, 0 already stored, 0 dead letters"
    )

    talentlms.api_key = "rotated-on-the-talentlms-side"
    refused = laurel("connectors", "poll", "talentlms", "--org", tenant.slug, url=database.url)
    assert refused.returncode == 2
    assert "401" in refused.stderr
    assert _cursor(database).last_error is not None
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
    cursor = _cursor(database)
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
