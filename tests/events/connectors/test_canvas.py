"""Canvas Live Events (Canvas format): course_completed, course_grade_change, grade_change,
plain and signed (RS256 JWT checked against the organization's JWKS)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.events.connectors import jwks
from tests.conftest import Tenant
from tests.events.connectors.support import (
    accepted_event,
    add_secret,
    count_dead_letters,
    count_events,
    post,
    recent,
    set_mapping,
    stored,
)
from tests.factories import fixed_program, table_counts

ROOT = "VicYj3cu5BIFpoZhDVU4DZumnlBrWi1grgJEzADs"


def _metadata(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_name": name,
        "event_time": recent().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "producer": "canvas",
        "root_account_id": "21070000000000001",
        "root_account_uuid": ROOT,
        "root_account_lti_guid": "7db438071375c02373713c12c73869ff2f470b68.canvas.example.edu",
        **extra,
    }


def course_completed(completed_at: str | None = None) -> dict[str, Any]:
    return {
        "metadata": _metadata("course_completed", job_id="1020020528469291", job_tag="x"),
        "body": {
            "progress": {
                "requirement_count": 1,
                "requirement_completed_count": 1,
                "next_requirement_url": None,
                "completed_at": completed_at or recent().isoformat().replace("+00:00", "Z"),
            },
            "user": {"id": "21", "name": "Ana Díaz", "email": "ana@example.com"},
            "course": {
                "id": "565",
                "name": "Security Awareness 2026",
                "account_id": "1",
                "sis_source_id": "SEC-101",
            },
        },
    }


def course_grade_change(final_score: float = 84.0) -> dict[str, Any]:
    return {
        "metadata": _metadata(
            "course_grade_change", context_type="Course", context_id="21070000000000565"
        ),
        "body": {
            "user_id": "21",
            "course_id": "565",
            "current_score": final_score,
            "old_current_score": 60.0,
            "final_score": final_score,
            "old_final_score": 60.0,
            "workflow_state": "active",
            "created_at": "2026-09-01T10:00:00Z",
            "updated_at": recent().isoformat().replace("+00:00", "Z"),
        },
    }


def grade_change(**body: Any) -> dict[str, Any]:
    return {
        "metadata": _metadata(
            "grade_change",
            context_type="Course",
            context_id="21070000000000565",
            user_id="21070000000000021",
        ),
        "body": {
            "submission_id": "21070000000000777",
            "assignment_id": "21070000000000555",
            "grade": "45",
            "old_grade": None,
            "score": 45.0,
            "old_score": None,
            "points_possible": 50.0,
            "old_points_possible": None,
            "grader_id": None,
            "student_id": "21070000000000021",
            "student_sis_id": "E1001",
            "user_id": "21070000000000021",
            "grading_complete": True,
            "muted": False,
            **body,
        },
    }


def test_course_completed_with_token_in_url_pays(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="15.00")
    secret = add_secret(client, tenant, "canvas")["secret"]
    body = course_completed()
    response = post(client, tenant, "canvas", body, query={"token": secret})
    event = stored(database, accepted_event(response))
    assert (event.learner, event.course, event.outcome, event.score) == (
        "21",
        "565",
        "completed",
        None,
    )
    assert event.learner_email == "ana@example.com"
    assert event.course_title == "Security Awareness 2026"
    assert (
        event.occurred_at.isoformat().replace("+00:00", "Z")
        == body["body"]["progress"]["completed_at"]
    )
    assert len(response.json()["results"][0]["rewards"]) == 1

    # Canvas retries (up to four tries) carry the same event: one event, one reward.
    again = post(client, tenant, "canvas", body, query={"token": secret})
    assert again.json()["replayed"] == 1
    # A re-emitted course_completed with a new completion time is a new event, but the
    # reward dedupe keeps it to one reward for this learner, course and program.
    later_time = (recent() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    later = post(client, tenant, "canvas", course_completed(later_time), query={"token": secret})
    assert later.json()["accepted"] == 1
    assert later.json()["results"][0]["rewards"] == []
    assert count_events(database) == 2
    assert table_counts(database)["rewards"] == 1


def test_sis_ids_mapping(client: TestClient, tenant: Tenant, database: Database) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    set_mapping(client, tenant, "canvas", learner_id="email", course_id="sis_source_id")
    event = stored(
        database,
        accepted_event(post(client, tenant, "canvas", course_completed(), query={"token": secret})),
    )
    assert (event.learner, event.course) == ("ana@example.com", "SEC-101")


def _dead_letter(client: TestClient, tenant: Tenant, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    letter_id = response.json()["dead_letter_id"]
    assert letter_id is not None, response.json()
    letter: dict[str, Any] = client.get(
        f"/api/v1/dead-letters/{letter_id}", headers=tenant.headers
    ).json()
    return letter


def test_sis_id_mapping_never_credits_the_user_who_acted(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="15.00")
    secret = add_secret(client, tenant, "canvas")["secret"]
    set_mapping(client, tenant, "canvas", learner_id="sis_id")
    body = course_completed()
    # A teacher's action met the student's last requirement: metadata describes the teacher.
    body["metadata"].update(
        user_id="21070000000000987",
        user_sis_id="TEACHER-987",
        user_login="teacher@example.edu",
        context_role="TeacherEnrollment",
    )
    body["body"]["user"]["id"] = "123"
    before = table_counts(database)
    letter = _dead_letter(
        client, tenant, post(client, tenant, "canvas", body, query={"token": secret})
    )
    assert letter["reason"] == "unmapped"
    assert letter["errors"] == [
        {
            "index": 0,
            "field": "body.user",
            "message": "course_completed carries no SIS id for the learner (body.user has only "
            "id, name and email; metadata.user_sis_id is whoever acted, not the learner): set "
            "mapping.learner_id to user_id or email",
        }
    ]
    after = table_counts(database)
    for table in ("completion_events", "learners", "rewards"):
        assert after[table] == before[table], table

    # With the mapping the message names, the replayed delivery credits the student.
    set_mapping(client, tenant, "canvas", learner_id="user_id")
    replay = client.post(f"/api/v1/dead-letters/{letter['id']}/replay", headers=tenant.headers)
    assert replay.status_code == 200, replay.text
    assert replay.json()["dead_letter"]["state"] == "resolved"
    event = stored(database, replay.json()["dead_letter"]["event_ids"][0])
    assert (event.learner, event.learner_email, event.course, event.outcome, event.score) == (
        "123",
        "ana@example.com",
        "565",
        "completed",
        None,
    )


def test_grade_events_take_the_student_from_the_body(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    set_mapping(client, tenant, "canvas", learner_id="sis_id")
    graded = grade_change()
    # The grader is the acting user: metadata.user_sis_id is theirs, student_sis_id the student's.
    graded["metadata"].update(user_id="21070000000000987", user_sis_id="TEACHER-987")
    event = stored(
        database, accepted_event(post(client, tenant, "canvas", graded, query={"token": secret}))
    )
    assert (event.learner, event.course, event.outcome, event.score) == (
        "E1001",
        "565",
        "in_progress",
        0.9,
    )
    course_grade = course_grade_change()
    course_grade["metadata"].update(user_id="21070000000000987", user_sis_id="TEACHER-987")
    letter = _dead_letter(
        client, tenant, post(client, tenant, "canvas", course_grade, query={"token": secret})
    )
    assert letter["errors"] == [
        {
            "index": 0,
            "field": "body.student_sis_id",
            "message": "course_grade_change carries no SIS id for the student (its body has only "
            "user_id): set mapping.learner_id to user_id",
        }
    ]
    set_mapping(client, tenant, "canvas", learner_id="email")
    no_email = _dead_letter(
        client,
        tenant,
        post(client, tenant, "canvas", grade_change(submission_id="2"), query={"token": secret}),
    )
    assert no_email["errors"] == [
        {
            "index": 0,
            "field": "body.user.email",
            "message": "grade_change carries no e-mail for the student: set "
            "mapping.learner_id to user_id or sis_id",
        }
    ]
    assert count_events(database) == 1


def test_course_grade_change_passes_at_the_configured_score(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    progress = stored(
        database,
        accepted_event(
            post(client, tenant, "canvas", course_grade_change(84.0), query={"token": secret})
        ),
    )
    assert (progress.outcome, progress.score, progress.course) == ("in_progress", 0.84, "565")
    set_mapping(client, tenant, "canvas", pass_score=0.7)
    passed = stored(
        database,
        accepted_event(
            post(client, tenant, "canvas", course_grade_change(91.5), query={"token": secret})
        ),
    )
    assert (passed.outcome, passed.score) == ("passed", 0.915)


def test_grade_change_is_progress_and_muted_grades_are_ignored(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    event = stored(
        database,
        accepted_event(post(client, tenant, "canvas", grade_change(), query={"token": secret})),
    )
    # Global ids (shard prefix) are normalised to the local ids course_completed uses.
    assert (event.learner, event.course, event.outcome, event.score) == (
        "21",
        "565",
        "in_progress",
        0.9,
    )
    ungraded = grade_change(points_possible="n/a", submission_id="21070000000000778")
    no_score = stored(
        database, accepted_event(post(client, tenant, "canvas", ungraded, query={"token": secret}))
    )
    assert (no_score.outcome, no_score.score) == ("in_progress", None)
    muted = post(client, tenant, "canvas", grade_change(muted=True), query={"token": secret})
    assert muted.json()["results"][0]["reason"] == "the grade is muted (not visible to the student)"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _keypair(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "e": _b64(numbers.e.to_bytes(3, "big")),
        "n": _b64(numbers.n.to_bytes(256, "big")),
    }
    return key, jwk


def _jwt(key: rsa.RSAPrivateKey, kid: str, claims: dict[str, Any]) -> bytes:
    head = _b64(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64(signature)}".encode()


def test_signed_payloads_are_verified_against_the_jwks(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    key, jwk = _keypair("2026-11")
    other, _ = _keypair("2026-11")
    set_mapping(client, tenant, "canvas", options={"jwks": {"keys": [jwk]}, "require_signed": True})
    claims = course_completed()
    signed = _jwt(key, "2026-11", claims)
    event = stored(
        database, accepted_event(post(client, tenant, "canvas", signed, query={"token": secret}))
    )
    assert event.learner == "21"

    forged = _jwt(other, "2026-11", course_completed())
    refused = post(client, tenant, "canvas", forged, query={"token": secret})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the JWT signature does not verify"
    unknown = post(client, tenant, "canvas", _jwt(key, "2025-01", claims), query={"token": secret})
    assert unknown.json()["detail"] == "no key '2025-01' in the configured JWKS"
    plain = post(client, tenant, "canvas", course_completed(), query={"token": secret})
    assert plain.status_code == 401
    assert count_events(database) == 1


# ----------------------------------------------------------------- JWKS fetched from a URL


class _JwksServer:
    """A loopback HTTP server publishing a JWKS, as Canvas's JWKS endpoint does."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.requests = 0
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("cache-control", "max-age=600")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/main/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[_JwksServer]:
    jwks.CACHE.clear()
    with _JwksServer() as server:
        yield server
    jwks.CACHE.clear()


def _claims(**extra: Any) -> dict[str, Any]:
    return {**course_completed(), **extra}


def test_jwks_url_is_fetched_cached_and_refetched_for_a_new_kid(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    jwks_server: _JwksServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    current, current_jwk = _keypair("2026-11")
    jwks_server.keys = [current_jwk]
    set_mapping(
        client,
        tenant,
        "canvas",
        options={"jwks_url": jwks_server.url, "require_signed": True},
    )
    for _ in range(2):
        response = post(
            client, tenant, "canvas", _jwt(current, "2026-11", _claims()), query={"token": secret}
        )
        assert response.status_code == 202, response.text
    assert jwks_server.requests == 1  # the second delivery used the cached set
    # Canvas rotates: the next key appears in the published set before it signs anything.
    monkeypatch.setattr(jwks.CACHE, "refetch_after", 0)
    upcoming, upcoming_jwk = _keypair("2026-12")
    jwks_server.keys = [current_jwk, upcoming_jwk]
    rotated = post(
        client, tenant, "canvas", _jwt(upcoming, "2026-12", _claims()), query={"token": secret}
    )
    assert rotated.status_code == 202, rotated.text
    before = count_events(database)
    assert jwks_server.requests == 2
    stranger, _ = _keypair("1999-01")
    unknown = post(
        client, tenant, "canvas", _jwt(stranger, "1999-01", _claims()), query={"token": secret}
    )
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "no key '1999-01' in the configured JWKS"
    assert count_events(database) == before


def test_tampered_wrongly_signed_and_stale_tokens_are_refused_and_stored_nowhere(
    client: TestClient, tenant: Tenant, database: Database, jwks_server: _JwksServer
) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    key, jwk = _keypair("2026-11")
    impostor, _ = _keypair("2026-11")
    jwks_server.keys = [jwk]
    set_mapping(
        client,
        tenant,
        "canvas",
        options={
            "jwks_url": jwks_server.url,
            "jwt_issuer": "canvas.instructure.com",
            "jwt_audience": "laurel-acme",
            "jwt_leeway_seconds": 30,
        },
    )
    now = int(time.time())
    good = {"iss": "canvas.instructure.com", "aud": "laurel-acme", "iat": now, "exp": now + 300}
    signed = _jwt(key, "2026-11", _claims(**good))
    head, body, signature = signed.decode().split(".")
    changed = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    changed["body"]["user"]["id"] = "99"
    tampered = f"{head}.{_b64(json.dumps(changed).encode())}.{signature}".encode()
    cases = {
        tampered: "the JWT signature does not verify",
        _jwt(impostor, "2026-11", _claims(**good)): "the JWT signature does not verify",
        _jwt(key, "2026-11", _claims(**{**good, "exp": now - 120})): "the JWT has expired (exp)",
        _jwt(key, "2026-11", _claims(**{**good, "iat": now + 600})): "issued in the future",
        _jwt(key, "2026-11", _claims(**{**good, "aud": "someone-else"})): "'aud'",
        _jwt(key, "2026-11", _claims(**{**good, "iss": "evil.example"})): "'iss'",
        _jwt(key, "2026-11", _claims(iat=now, exp=now + 300)): "required claim",
    }
    before = table_counts(database)
    for token, reason in cases.items():
        refused = post(client, tenant, "canvas", token, query={"token": secret})
        assert refused.status_code == 401, refused.text
        assert reason in refused.json()["detail"], refused.json()
    assert count_events(database) == 0
    assert count_dead_letters(database) == 0
    assert table_counts(database)["completion_events"] == before["completion_events"]
    # Within the leeway a just-expired token still verifies (clock skew).
    skewed = _jwt(key, "2026-11", _claims(**{**good, "exp": now - 5}))
    accepted = post(client, tenant, "canvas", skewed, query={"token": secret})
    assert accepted.status_code == 202, accepted.text
    assert stored(database, accepted_event(accepted)).learner == "21"


def test_unreachable_jwks_is_503_and_a_bad_url_is_refused(
    client: TestClient, tenant: Tenant, database: Database, jwks_server: _JwksServer
) -> None:
    secret = add_secret(client, tenant, "canvas")["secret"]
    key, jwk = _keypair("2026-11")
    jwks_server.keys = [jwk]
    jwks_server.status = 500
    set_mapping(client, tenant, "canvas", options={"jwks_url": jwks_server.url})
    down = post(client, tenant, "canvas", _jwt(key, "2026-11", _claims()), query={"token": secret})
    assert down.status_code == 503
    assert "answered 500" in down.json()["detail"]
    assert count_events(database) == 0
    refused = client.put(
        "/api/v1/connectors/canvas/mapping",
        json={"options": {"jwks_url": "http://canvas.example.edu/jwks"}},
        headers=tenant.headers,
    )
    assert refused.status_code == 422
    assert "https://" in json.dumps(refused.json())


def test_cache_expiry_and_refetch_rate_limit() -> None:
    now = [1000.0]
    with _JwksServer() as server:
        _, jwk = _keypair("a")
        server.keys = [jwk]
        cache = jwks.JwksCache(refetch_after=30, clock=lambda: now[0])
        assert cache.key_set(server.url, "a").kids == {"a"}
        cache.key_set(server.url, "zzz")  # unknown kid, but fetched a moment ago: no refetch
        assert server.requests == 1
        now[0] += 31
        cache.key_set(server.url, "zzz")
        assert server.requests == 2
        now[0] += 599
        cache.key_set(server.url, "a")  # max-age=600 has not run out since the last fetch
        assert server.requests == 2
        now[0] += 2
        cache.key_set(server.url, "a")
        assert server.requests == 3
        server.status = 503
        now[0] += 601
        assert cache.key_set(server.url, "a").kids == {"a"}  # kept while the source is down
