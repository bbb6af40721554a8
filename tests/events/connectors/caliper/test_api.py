"""The Caliper endpoint: every published sample, the endpoint's answers, replays, rewards."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.courses.models import Course
from laurel.db import Database
from laurel.events.connectors.caliper.models import CaliperEvent
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from tests.conftest import Tenant, make_tenant
from tests.events.connectors.xapi.support import FIXTURES
from tests.factories import fixed_program, table_counts

CALIPER = FIXTURES / "caliper-1.2"
V1P2 = "http://purl.imsglobal.org/ctx/caliper/v1p2"
STUDENT = "https://example.edu/users/554433"
SECTION = "https://example.edu/terms/201601/courses/7/sections/1"


@dataclass(frozen=True)
class Completion:
    key: str
    outcome: str
    score: float | None
    occurred_at: str


@dataclass(frozen=True)
class Stored:
    note: str


@dataclass(frozen=True)
class Refused:
    status: int
    detail: Any


SAMPLES: dict[str, list[Completion | Stored] | Refused | int] = {
    # Not an envelope: the endpoint's configuration payload (compared with GET /caliper).
    "caliperEndpointConfigPayload.json": Refused(
        400, "the envelope lacks sensor, sendTime, dataVersion, data"
    ),
    # Entities are descriptions: checked, counted, not kept.
    "caliperEntityAttempt.json": 1,
    "caliperEntityPerson.json": 1,
    "caliperEntityPersonAnonymous.json": 1,
    "caliperEntityResult.json": 1,
    "caliperEntityScore.json": 1,
    "caliperEnvelopeEventBatch.json": [
        Stored("NavigationEvent NavigatedTo does not describe a result"),
        Stored("AnnotationEvent Bookmarked does not describe a result"),
        Stored("ViewEvent Viewed does not describe a result"),
    ],
    "caliperEnvelopeEventSingle.json": [
        Completion(
            "urn:uuid:c51570e4-f8ed-4c18-bb3a-dfe51b2cc594",
            "in_progress",
            None,
            "2016-11-15T10:15:00+00:00",
        )
    ],
    "caliperEnvelopeEventThinned.json": [
        Stored("NavigationEvent NavigatedTo does not describe a result")
    ],
    "caliperEnvelopeToolUseEvent.json": [Stored("tool use without progress")],
    "caliperEventAssessmentItemCompleted.json": [
        Completion(
            "urn:uuid:e5891791-3d27-4df1-a272-091806a43dfb",
            "in_progress",
            None,
            "2016-11-15T10:15:12+00:00",
        )
    ],
    "caliperEventAssessmentStarted.json": [
        Completion(
            "urn:uuid:27734504-068d-4596-861c-2315be33a2a2",
            "in_progress",
            None,
            "2016-11-15T10:15:00+00:00",
        )
    ],
    # A submission is handed-in work, not a result: the grade that follows is.
    "caliperEventAssessmentSubmitted.json": [
        Completion(
            "urn:uuid:dad88464-0c20-4a19-a1ba-ddf2f9c3ff33",
            "in_progress",
            None,
            "2016-11-15T10:25:30+00:00",
        )
    ],
    "caliperEventAssignableActivated.json": [
        Stored("AssignableEvent Activated does not describe a result")
    ],
    "caliperEventGradeGraded.json": [
        Completion(
            "urn:uuid:a50ca17f-5971-47bb-8fca-4e6e6879001d",
            "completed",
            10.0 / 15.0,
            "2016-11-15T10:57:06+00:00",
        )
    ],
    "caliperEventGradeGradedItem.json": [
        Completion(
            "urn:uuid:12c05c4e-253f-4073-9f29-5786f3ff3f36",
            "in_progress",
            1.0,
            "2016-11-15T10:57:06+00:00",
        )
    ],
    "caliperEventToolUseUsed.json": [Stored("tool use without progress")],
    "caliperEventToolUseUsedAnonymous.json": [
        Stored("anonymous actor: never attributed to a learner")
    ],
    "caliperEventToolUseUsedWithProgress.json": [
        Completion(
            "urn:uuid:7e10e4f3-a0d8-4430-95bd-783ffae4d916",
            "in_progress",
            None,
            "2019-11-15T10:15:00+00:00",
        )
    ],
    "commonErrorFixtures--caliperEntity-NoId.json": Refused(
        400, [{"field": "data[0].id", "message": "is required"}]
    ),
    "commonErrorFixtures--caliperEvent-NoActor.json": Refused(
        400, [{"field": "data[0].actor", "message": "is required"}]
    ),
    "commonErrorFixtures--caliperEvent-NoId.json": Refused(
        400, [{"field": "data[0].id", "message": "is required"}]
    ),
    "commonErrorFixtures--caliperEvent-UnknownAction.json": Refused(
        400, [{"field": "data[0].action", "message": "NotAnAction is not a Caliper action"}]
    ),
    "commonErrorFixtures--caliperEventAssessment-WrongAction.json": Refused(
        400,
        [
            {
                "field": "data[0].action",
                "message": "Deleted is not an action of AssessmentEvent "
                "(allowed: Paused, Reset, Restarted, Resumed, Started, Submitted)",
            }
        ],
    ),
    "commonErrorFixtures--caliperEventGrade-WrongAction.json": Refused(
        400,
        [
            {
                "field": "data[0].action",
                "message": "Deleted is not an action of GradeEvent (allowed: Graded)",
            }
        ],
    ),
}


def envelope(*data: Any, version: str = V1P2) -> dict[str, Any]:
    return {
        "sensor": "https://example.edu/sensors/1",
        "sendTime": "2016-11-15T11:05:01.000Z",
        "dataVersion": version,
        "data": list(data),
    }


def _body(name: str) -> dict[str, Any]:
    """Envelopes as published; single events and entities wrapped in one."""
    sample: dict[str, Any] = json.loads((CALIPER / name).read_text())
    if name.startswith("caliperEnvelope") or name == "caliperEndpointConfigPayload.json":
        return sample
    return envelope(sample)


def test_every_sample_is_listed() -> None:
    assert {p.name for p in CALIPER.iterdir()} == set(SAMPLES)


def test_samples(client: TestClient, database: Database) -> None:
    # Samples reuse event ids across files: each one goes to its own organization.
    for number, (name, expected) in enumerate(sorted(SAMPLES.items())):
        tenant = make_tenant(database, slug=f"org{number}")
        before = table_counts(database)
        response = client.post("/caliper", json=_body(name), headers=tenant.headers)
        if isinstance(expected, Refused):
            assert response.status_code == expected.status, (name, response.text)
            assert response.json()["detail"] == expected.detail, name
            assert table_counts(database) == before, name
            continue
        assert response.status_code == 200, (name, response.text)
        answer = response.json()
        if isinstance(expected, int):
            assert answer["entities"] == expected, name
            assert table_counts(database) == before, name
            continue
        assert answer["events"] == len(expected), name
        with database.sessionmaker() as session:
            rows = list(
                session.scalars(
                    select(CaliperEvent).where(CaliperEvent.organization_id == tenant.id)
                )
            )
            assert len(rows) == len(expected), name
            assert sorted(r.note for r in rows if r.event_id is None) == sorted(
                w.note for w in expected if isinstance(w, Stored)
            ), name
            by_key = {r.event_key: r for r in rows}
            for want in expected:
                if isinstance(want, Stored):
                    continue
                row = by_key[want.key]
                event = session.get(CompletionEvent, row.event_id)
                assert event is not None, name
                learner = session.get(Learner, event.learner_id)
                course = session.get(Course, event.course_id)
                assert learner is not None
                assert course is not None
                assert learner.external_id == STUDENT, name
                assert course.external_id == SECTION, name
                assert event.source == "caliper"
                assert event.source_event_id == want.key
                assert event.outcome == want.outcome, name
                assert event.score == want.score, name
                assert event.occurred_at == datetime.fromisoformat(want.occurred_at), name


def test_endpoint_configuration(client: TestClient) -> None:
    published = json.loads((CALIPER / "caliperEndpointConfigPayload.json").read_text())
    ours = client.get("/caliper").json()
    assert set(ours) <= set(published)
    assert V1P2 in ours["caliper_supported_versions"]
    assert set(ours["caliper_supported_versions"]) <= set(published["caliper_supported_versions"])


def _graded(score: float, *, event_id: str | None = None, version: str = V1P2) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((CALIPER / "caliperEventGradeGraded.json").read_text())
    event["id"] = event_id or f"urn:uuid:{uuid.uuid4()}"
    event["eventTime"] = utcnow().isoformat()
    event["generated"]["scoreGiven"] = score
    event["generated"]["maxScore"] = 100.0
    if version != V1P2:
        event["@context"] = version
    return event


def test_grade_event_pays_the_assignee_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, conditions={"min_score": "0.7"})
    low = _graded(60)
    high = _graded(85)
    response = client.post("/caliper", json=envelope(low, high), headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 2
    rewards = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    assert [r["state"] for r in rewards] == ["ready"]
    before = table_counts(database)
    again = client.post("/caliper", json=envelope(low, high), headers=tenant.headers)
    assert again.status_code == 200
    assert again.json()["replayed"] == 2
    assert table_counts(database) == before
    changed = {**high, "generated": {**high["generated"], "scoreGiven": 99.0}}
    conflict = client.post("/caliper", json=envelope(changed), headers=tenant.headers)
    assert conflict.status_code == 409
    assert high["id"] in conflict.json()["detail"]


def test_canvas_caliper_1_1_grade_event(client: TestClient, tenant: Tenant) -> None:
    """Canvas sends Caliper 1.1: its own user URNs, the 1.1 context, the same Score shape."""
    event = _graded(90, version="http://purl.imsglobal.org/ctx/caliper/v1p1")
    event["object"]["assignee"] = {"id": "urn:instructure:canvas:user:21070000000000001"}
    event["group"] = {
        "id": "urn:instructure:canvas:course:21070000000000565",
        "type": "CourseOffering",
    }
    event["extensions"] = {"com.instructure.canvas": {"hostname": "example.instructure.com"}}
    body = envelope(event, version="http://purl.imsglobal.org/ctx/caliper/v1p1")
    response = client.post("/caliper", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    [event_id] = response.json()["completion_event_ids"]
    stored = client.get(f"/api/v1/events/{event_id}", headers=tenant.headers).json()
    assert stored["outcome"] == "completed"
    assert stored["score"] == 0.9
    learner = client.get(f"/api/v1/learners/{stored['learner_id']}", headers=tenant.headers)
    assert learner.json()["external_id"] == "urn:instructure:canvas:user:21070000000000001"


@pytest.mark.parametrize(
    ("headers", "content", "status", "error"),
    [
        ({}, None, 401, "unauthorized"),
        ({"Authorization": "Bearer lrl_live_wrong"}, None, 401, "unauthorized"),
        ({"Content-Type": "text/plain"}, None, 415, "unsupported_media_type"),
        ({"Content-Type": "application/json"}, b'{"sensor": ', 400, "malformed_json"),
    ],
)
def test_endpoint_answers(
    client: TestClient,
    tenant: Tenant,
    headers: dict[str, str],
    content: bytes | None,
    status: int,
    error: str,
) -> None:
    sent = {**tenant.headers, "Content-Type": "application/json", **headers}
    if "Authorization" not in headers and status == 401:
        del sent["Authorization"]
    body = content if content is not None else json.dumps(envelope(_graded(80))).encode()
    response = client.post("/caliper", content=body, headers=sent)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_unsupported_data_version_is_422(client: TestClient, tenant: Tenant) -> None:
    body = envelope(_graded(80), version="http://purl.imsglobal.org/ctx/caliper/v1p0")
    response = client.post("/caliper", json=body, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"] == "unsupported_data_version"


def test_one_bad_event_refuses_the_envelope(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    before = table_counts(database)
    bad = _graded(80)
    bad["eventTime"] = "yesterday"
    response = client.post("/caliper", json=envelope(_graded(70), bad), headers=tenant.headers)
    assert response.status_code == 400
    assert response.json()["detail"] == [
        {
            "field": "data[1].eventTime",
            "message": "is required: an ISO 8601 date and time with a timezone",
        }
    ]
    assert table_counts(database) == before


# ------------------------------------------------- Canvas (Caliper 1.1): what is not a result

V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
CANVAS_STUDENT = "urn:instructure:canvas:user:21070000000000123"
CANVAS_TEACHER = "urn:instructure:canvas:user:21070000000000987"
CANVAS_COURSE = "urn:instructure:canvas:course:21070000000000565"
ASSIGNMENT = "urn:instructure:canvas:assignment:21070000000000355"
QUIZ = "urn:instructure:canvas:quiz:21070000000002223"


def _canvas(
    kind: str, action: str, actor: str, target: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "@context": V1P1,
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": kind,
        "action": action,
        "actor": {"id": actor, "type": "Person"},
        "object": target,
        "eventTime": utcnow().isoformat(),
        "edApp": {"id": "http://oxana.instructure.com/", "type": "SoftwareApplication"},
        **extra,
    }


def _attempt(submission: int, assignable: dict[str, Any] | None) -> dict[str, Any]:
    target: dict[str, Any] = {
        "id": f"urn:instructure:canvas:submission:{submission}",
        "type": "Attempt",
        "assignee": {"id": CANVAS_STUDENT, "type": "Person"},
        "count": 1,
    }
    if assignable is not None:
        target["assignable"] = assignable
    return target


_COURSE_GROUP = {"id": CANVAS_COURSE, "type": "CourseOffering"}


def submission_created(submission: int) -> dict[str, Any]:
    """As Canvas documents ``submission_created``: an Attempt of an assignment, no group."""
    assignment = {"id": ASSIGNMENT, "type": "AssignableDigitalResource"}
    return _canvas("AssignableEvent", "Submitted", CANVAS_STUDENT, _attempt(submission, assignment))


def quiz_submitted(submission: int) -> dict[str, Any]:
    """As Canvas documents ``quiz_submitted``: an Attempt of a quiz, the course as the group."""
    quiz = {"id": QUIZ, "type": "Assessment"}
    target = _attempt(submission, quiz)
    return _canvas("AssessmentEvent", "Submitted", CANVAS_STUDENT, target, group=_COURSE_GROUP)


def grade_change(generated: Any, *, assignable: dict[str, Any] | None = None) -> dict[str, Any]:
    """As Canvas documents ``grade_change``: the teacher grades the student's Attempt."""
    target = _attempt(111, assignable or {"id": ASSIGNMENT, "type": "AssignableDigitalResource"})
    extra: dict[str, Any] = {"group": _COURSE_GROUP}
    if generated is not None:
        extra["generated"] = generated
    return _canvas("GradeEvent", "Graded", CANVAS_TEACHER, target, **extra)


@dataclass(frozen=True)
class Became:
    learner: str | None
    course: str | None
    outcome: str | None
    score: float | None
    note: str


def _became(database: Database, tenant: Tenant, key: str) -> Became:
    """What one Caliper event became: its completion event (if any) and the stored note."""
    with database.sessionmaker() as session:
        row = session.scalars(
            select(CaliperEvent).where(
                CaliperEvent.organization_id == tenant.id, CaliperEvent.event_key == key
            )
        ).one()
        if row.event_id is None:
            return Became(None, None, None, None, row.note)
        event = session.get(CompletionEvent, row.event_id)
        assert event is not None
        learner = session.get(Learner, event.learner_id)
        course = session.get(Course, event.course_id)
        assert learner is not None
        assert course is not None
        return Became(learner.external_id, course.external_id, event.outcome, event.score, row.note)


def _send(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> None:
    response = client.post("/caliper", json=envelope(*events, version=V1P1), headers=tenant.headers)
    assert response.status_code == 200, response.text


def _rewards(client: TestClient, tenant: Tenant) -> list[Any]:
    data: list[Any] = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    return data


def test_canvas_submission_created_is_progress_in_its_assignment(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    first, second = submission_created(111), submission_created(112)
    _send(client, tenant, first, second)
    # No group: the course is the assignment the Attempt is of, never the Attempt (submission).
    note = "AssignableEvent Submitted: progress, the grade is the result"
    for event in (first, second):
        assert _became(database, tenant, event["id"]) == Became(
            CANVAS_STUDENT, ASSIGNMENT, "in_progress", None, note
        )
    with database.sessionmaker() as session:
        courses = session.scalars(
            select(Course.external_id).where(Course.organization_id == tenant.id)
        )
        assert list(courses) == [ASSIGNMENT]
    assert _rewards(client, tenant) == []


def test_canvas_quiz_submitted_is_progress_in_the_course(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    event = quiz_submitted(113)
    _send(client, tenant, event)
    assert _became(database, tenant, event["id"]) == Became(
        CANVAS_STUDENT,
        CANVAS_COURSE,
        "in_progress",
        None,
        "AssessmentEvent Submitted: progress, the grade is the result",
    )
    assert _rewards(client, tenant) == []


@pytest.mark.parametrize(
    ("generated", "why"),
    [
        (None, "no generated Score"),
        (
            {
                "id": "urn:instructure:canvas:submission:111",
                "type": "Score",
                "scoreGiven": None,
                "maxScore": 10,
            },
            "generated.scoreGiven is null or absent",
        ),
        ({"type": "Score", "maxScore": 10}, "generated.scoreGiven is null or absent"),
        (
            {"type": "Score", "scoreGiven": 7},
            "no maxScore above 0 (generated.maxScore, else the assignable's) to scale it by",
        ),
        ("urn:instructure:canvas:submission:111", "the generated Score is given by its IRI only"),
    ],
)
def test_grade_without_a_usable_score_is_progress_and_never_pays(
    client: TestClient, tenant: Tenant, database: Database, generated: Any, why: str
) -> None:
    fixed_program(client, tenant)
    event = grade_change(generated)
    _send(client, tenant, event)
    assert _became(database, tenant, event["id"]) == Became(
        CANVAS_STUDENT,
        CANVAS_COURSE,
        "in_progress",
        None,
        f"graded without a usable score ({why}): progress, never a completion",
    )
    assert _rewards(client, tenant) == []


def test_grade_is_completed_with_its_score_and_min_score_is_the_pass_mark(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, conditions={"min_score": "0.7"})
    zero = grade_change({"type": "Score", "scoreGiven": 0, "maxScore": 10})
    # A Score without maxScore is scaled by the assignable's maxScore.
    assessed = {"id": QUIZ, "type": "Assessment", "maxScore": 20.0}
    good = grade_change({"type": "Score", "scoreGiven": 15}, assignable=assessed)
    _send(client, tenant, zero, good)
    assert _became(database, tenant, zero["id"]) == Became(
        CANVAS_STUDENT, CANVAS_COURSE, "failed", 0.0, "graded 0: a failure"
    )
    assert _became(database, tenant, good["id"]) == Became(
        CANVAS_STUDENT, CANVAS_COURSE, "completed", 0.75, "graded"
    )
    assert [(r["state"], r["event_id"]) for r in _rewards(client, tenant)] == [
        ("ready", str(_event_id(database, tenant, good["id"])))
    ]


def _event_id(database: Database, tenant: Tenant, key: str) -> uuid.UUID | None:
    with database.sessionmaker() as session:
        return session.scalar(
            select(CaliperEvent.event_id).where(
                CaliperEvent.organization_id == tenant.id, CaliperEvent.event_key == key
            )
        )


def test_attempt_with_neither_group_nor_assignable_is_stored_only(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    event = _canvas("AssignableEvent", "Submitted", CANVAS_STUDENT, _attempt(114, None))
    before = table_counts(database)
    _send(client, tenant, event)
    assert _became(database, tenant, event["id"]) == Became(
        None,
        None,
        None,
        None,
        "AssignableEvent Submitted: progress, the grade is the result; "
        "no course (no group, no assignable): stored only",
    )
    after = table_counts(database)
    assert (after["completion_events"], after["courses"]) == (
        before["completion_events"],
        before["courses"],
    )


def test_an_event_time_a_few_hours_ahead_takes_the_time_received(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    before = utcnow()
    ahead = grade_change({"type": "Score", "scoreGiven": 8, "maxScore": 10})
    ahead["eventTime"] = (before + timedelta(hours=5)).isoformat()
    _send(client, tenant, ahead)
    became = _became(database, tenant, ahead["id"])
    assert (became.outcome, became.score) == ("completed", 0.8)
    assert became.note == "graded (eventTime is ahead of Laurel's clock: the time received is used)"
    event_id = _event_id(database, tenant, ahead["id"])
    with database.sessionmaker() as session:
        event = session.get(CompletionEvent, event_id)
        assert event is not None
        assert before <= event.occurred_at <= utcnow()
    # More than a day ahead is no clock error: the envelope is refused, as before.
    far = grade_change({"type": "Score", "scoreGiven": 8, "maxScore": 10})
    far["eventTime"] = (before + timedelta(days=2)).isoformat()
    refused = client.post("/caliper", json=envelope(far, version=V1P1), headers=tenant.headers)
    assert refused.status_code == 400
    assert refused.json()["detail"] == [
        {"field": "data[0]", "message": "eventTime is in the future"}
    ]
