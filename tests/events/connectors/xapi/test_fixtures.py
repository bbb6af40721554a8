"""Every published xAPI sample in ../shared/fixtures/lms fed through the endpoint.

Valid statements must land as the right learner, course, outcome, score and time (or be stored
without a completion, with the reason); invalid ones must get the right status and message.
Each folder runs in order in its own organization, because samples of one folder build on each
other (cmi5 sessions, the tincan capture voiding its own PUT).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.courses.models import Course
from laurel.db import Database
from laurel.events.connectors.xapi.models import XapiStatement
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import FIXTURES, basic


@dataclass(frozen=True)
class Event:
    learner: str
    course: str
    outcome: str
    score: float | None
    occurred_at: str | None
    """ISO time; None means the statement had no timestamp, so the time it was stored."""


@dataclass(frozen=True)
class Stored:
    note: str


@dataclass(frozen=True)
class Refused:
    error: str
    message: str


Expected = Event | Stored | Refused

GEOLOGY_AU = "http://course-repository.example.edu/identifiers/courses/02baafcf/aus/4c07"
GEOLOGY = "http://course-repository.example.edu/identifiers/courses/02baafcf"
CMI5_LEARNER = "account:http://example.org/|Learner"
MOVE_ON_UNKNOWN = (
    "cmi5: moveOn unknown (no launched statement with the moveOn extension for this "
    "registration); the course counts when the LMS sends satisfied"
)
MOODLE_LEARNER = "account:http://xapi.moodle.test|d0d6cd21-bbea-4179-a7e9-affdea1a1d84"
CBT = "http://example.adlnet.gov/xapi/example/simpleCBT"

EXPECTED: dict[str, list[tuple[str, Expected]]] = {
    "xapi-spec": [
        (
            "about-appendixB-cmi5-failed-account-actor.json",
            Event(
                "account:http://example.adlnet.gov|1625378",
                "https://example.adlnet.gov/AUidentifier",
                "failed",
                0.65,
                "2012-06-01T19:09:13.245000+00:00",
            ),
        ),
        (
            "agent-account.json",
            Refused("invalid_statement", "verb: is required"),
        ),
        (
            "appendixA-attempted-score-success-completion.json",
            Event(
                "mbox:example.learner@adlnet.gov",
                CBT,
                "in_progress",
                0.95,
                "2015-12-18T12:17:00+00:00",
            ),
        ),
        (
            "appendixA-long-group-actor-stored-authority.json",
            Stored("the actor is a Group: not attributed to one learner"),
        ),
        (
            "appendixA-simple-statement.display-linebreaks.NOT-VALID-JSON.txt",
            Refused("malformed_json", "Invalid control character at line 22 column 67"),
        ),
        (
            "simplest-statement-mbox.json",
            Stored("verb http://adlnet.gov/expapi/verbs/created does not describe a completion"),
        ),
        ("statementref-comment.json", Stored("the object is not an Activity")),
        ("voided-statement.json", Stored("voiding")),
    ],
    "cmi5": [
        (
            "01-typical-non_credit_session--01-launched_statement.json",
            Event(
                CMI5_LEARNER, GEOLOGY_AU, "in_progress", None, "2016-08-19T12:21:42.380000+00:00"
            ),
        ),
        (
            "05-completed_or_passed-failed_completed--04-failed_statement.json",
            Event(CMI5_LEARNER, GEOLOGY_AU, "failed", None, "2016-06-09T17:13:40.013000+00:00"),
        ),
        (
            "05-completed_or_passed-failed_completed--05-completed_statement.json",
            Event(
                CMI5_LEARNER, GEOLOGY_AU, "in_progress", None, "2016-06-09T17:13:46.345000+00:00"
            ),
        ),
        (
            "09-completed_and_passed--02-lms_launch_data.json",
            Refused("invalid_statement", "actor: is required"),
        ),
        (
            "09-completed_and_passed--04-passed_statement.json",
            Event(
                CMI5_LEARNER, GEOLOGY_AU, "in_progress", None, "2016-06-09T18:47:49.542000+00:00"
            ),
        ),
        (
            "09-completed_and_passed--05-completed_statement.json",
            Event(
                CMI5_LEARNER, GEOLOGY_AU, "in_progress", None, "2016-06-09T18:47:52.984000+00:00"
            ),
        ),
        (
            "09-completed_and_passed--06-satisfied_statement.json",
            Event(CMI5_LEARNER, GEOLOGY, "completed", None, "2016-06-09T18:47:53.740000+00:00"),
        ),
        (
            "09-completed_and_passed--07-terminated_statement.json",
            Stored(
                "cmi5 verb http://adlnet.gov/expapi/verbs/terminated does not describe a result"
            ),
        ),
        (
            "11-masteryScore-failed_first--02-lms_launch_data.json",
            Refused("invalid_statement", "masteryScore: is not a property xAPI allows here"),
        ),
        (
            "11-masteryScore-failed_first--04-failed_statement.json",
            Event(CMI5_LEARNER, GEOLOGY_AU, "failed", 0.82, "2016-06-09T19:00:44.335000+00:00"),
        ),
        (
            "11-masteryScore-failed_first--05-passed_statement.json",
            Event(
                CMI5_LEARNER, GEOLOGY_AU, "in_progress", 0.91, "2016-06-09T19:01:08.725000+00:00"
            ),
        ),
        (
            "11-masteryScore-failed_first--06-completed_statement.json",
            Event(
                CMI5_LEARNER, GEOLOGY_AU, "in_progress", None, "2016-06-09T19:01:11.954000+00:00"
            ),
        ),
        (
            "11-masteryScore-failed_first--07-satisfied_statement.json",
            Event(CMI5_LEARNER, GEOLOGY, "completed", None, "2016-06-09T19:01:12.716000+00:00"),
        ),
        (
            "13-progress_usage--04-progressed_25_percent_statement.json",
            Stored(
                "cmi5 allowed verb http://adlnet.gov/expapi/verbs/progressed does not describe "
                "a result"
            ),
        ),
        (
            "17-abandoned_session--04-abandoned_statement.json",
            Stored(
                "cmi5 verb https://w3id.org/xapi/adl/verbs/abandoned does not describe a result"
            ),
        ),
        (
            "19-allowed-test-questions--10-passed_statement-allowed.json",
            Event(
                "account:https://www.example.com/demo/LearnerConnection/|277013-1",
                "https://www.example.com/demo/LearnerConnection/AU/10724/quizzes/"
                "q_6A82C9DC-84B0-4617-9704-8E632B45580E",
                "in_progress",
                1.0,
                "2018-09-05T13:44:35+00:00",
            ),
        ),
        (
            "19-allowed-test-questions--12-passed_statement.json",
            Event(
                "account:https://www.example.com/demo/LearnerConnection/|277013-1",
                "https://www.example.com/EFE02C21-56AC-41A2-AE5A-9600275A6A00/presentation",
                "in_progress",
                1.0,
                "2018-09-05T13:44:39+00:00",
            ),
        ),
    ],
    "xapi-tincanpython": [
        (
            "tincan-1.0.0-POST-completed-mbox-score-no-id.body.json",
            Event("mbox:example.learner@adlnet.gov", CBT, "completed", 0.95, None),
        ),
        (
            "tincan-1.0.0-PUT-passed-account-with-id.body.json",
            Event(
                "account:http://www.example.com|1625378",
                CBT,
                "passed",
                0.8,
                "2015-12-18T12:17:00+00:00",
            ),
        ),
        (
            "tincan-1.0.0-POST-batch-voiding-plus-failed-mbox_sha1sum.body.json",
            Event("sha1:ebd31e95054c018b10727ccffd2ef2ec3a016ee9", CBT, "failed", 0.4, None),
        ),
    ],
    "moodle-xapi": [
        (
            "xapi-fr-moodle-profile--events_comp--00-course-completed.json",
            Event(
                MOODLE_LEARNER,
                "http://xapi.moodle.test/xapi/activities/course/ba297687-b1aa-4477-9efd-a782c8fdb90a",
                "completed",
                None,
                "2018-06-20T08:04:17+00:00",
            ),
        ),
        (
            "xapi-fr-moodle-profile--events_comp--01-course-module-completed.json",
            Event(
                MOODLE_LEARNER,
                "http://xapi.moodle.test/xapi/activities/scorm/c1595f9a-4347-404b-9057-51c461fcd1b7",
                "completed",
                None,
                "2018-06-20T08:04:18+00:00",
            ),
        ),
        (
            "xapi-fr-moodle-profile--events_comp--02-course-module-completion-marked.json",
            Stored(
                "verb http://vocab.xapi.fr/verbs/marked-completion does not describe a completion"
            ),
        ),
        (
            "xapi-fr-moodle-profile--events_result--00-course-module-graded.json",
            Stored("verb http://vocab.xapi.fr/verbs/graded does not describe a completion"),
        ),
        (
            "xapi-fr-moodle-profile--events_scormlite--03-passed-failed-attempt.trailing-comma."
            "NOT-VALID-JSON.txt",
            Refused(
                "malformed_json",
                "Expecting property name enclosed in double quotes at line 84 column 9",
            ),
        ),
        (
            "xapi-fr-moodle-profile--events_scormlite--05-passed-failed-sco-obtained-by-learner."
            "trailing-comma.NOT-VALID-JSON.txt",
            Refused(
                "malformed_json",
                "Expecting property name enclosed in double quotes at line 78 column 9",
            ),
        ),
    ],
}


def test_every_sample_is_listed() -> None:
    for folder, cases in EXPECTED.items():
        on_disk = {p.name for p in (FIXTURES / folder).iterdir()} - {
            "tincan-1.0.0-captured-requests.json"
        }
        assert on_disk == {name for name, _ in cases}, folder


def _send(client: TestClient, tenant: Tenant, folder: str, name: str) -> tuple[int, object]:
    """Send a sample the way its source sends it: the tincan capture says PUT or POST."""
    raw = (FIXTURES / folder / name).read_bytes()
    headers = {**basic(tenant.live_key), "Content-Type": "application/json"}
    if folder == "xapi-tincanpython":
        captured = json.loads(
            (FIXTURES / folder / "tincan-1.0.0-captured-requests.json").read_text()
        )
        [request] = [r for r in captured if r["body_file"] == name]
        headers["X-Experience-API-Version"] = request["headers"]["X-Experience-API-Version"]
        response = client.request(request["method"], request["path"], content=raw, headers=headers)
    else:
        response = client.post("/xapi/statements", content=raw, headers=headers)
    return response.status_code, response.json() if response.content else None


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_samples(folder: str, client: TestClient, tenant: Tenant, database: Database) -> None:
    # In the listed order; for the tincan capture that is the order the client sent them in,
    # and its batch voids the statement of the PUT before it.
    for name, expected in EXPECTED[folder]:
        sent_at = utcnow()
        status, answer = _send(client, tenant, folder, name)
        if isinstance(expected, Refused):
            assert status == 400, (name, answer)
            assert isinstance(answer, dict)
            assert answer["error"] == expected.error, name
            text = answer["detail"]
            if isinstance(text, list):
                text = "; ".join(f"{d['field']}: {d['message']}" for d in text)
            assert expected.message in text, (name, text)
            continue
        assert status in {200, 204}, (name, answer)
        statement = json.loads((FIXTURES / folder / name).read_text())
        last = statement[-1] if isinstance(statement, list) else statement
        statement_id = answer[-1] if isinstance(answer, list) else last["id"]
        with database.sessionmaker() as session:
            stored = session.scalar(
                select(XapiStatement).where(XapiStatement.statement_id == _uuid(statement_id))
            )
            assert stored is not None, name
            if isinstance(expected, Stored):
                assert stored.event_id is None, name
                assert stored.note == expected.note, name
                continue
            assert stored.event_id is not None, (name, stored.note)
            event = session.get(CompletionEvent, stored.event_id)
            assert event is not None
            learner = session.get(Learner, event.learner_id)
            course = session.get(Course, event.course_id)
            assert learner is not None
            assert course is not None
            assert (learner.external_id, course.external_id) == (expected.learner, expected.course)
            assert event.outcome == expected.outcome, (name, stored.note)
            assert event.score == expected.score, name
            assert event.source == "xapi"
            if expected.occurred_at is None:
                assert sent_at - timedelta(seconds=1) <= event.occurred_at <= utcnow()
            else:
                assert event.occurred_at == datetime.fromisoformat(expected.occurred_at)
                assert event.occurred_at.tzinfo is not None
                assert event.occurred_at.utcoffset() == UTC.utcoffset(None)
    if folder == "xapi-tincanpython":
        with database.sessionmaker() as session:
            put = session.scalar(
                select(XapiStatement).where(
                    XapiStatement.statement_id == _uuid("7ccd3322-e1a5-411a-a67d-6a735c76f119")
                )
            )
            assert put is not None
            assert put.voided is True


def _uuid(value: object) -> object:
    import uuid

    return uuid.UUID(str(value))
