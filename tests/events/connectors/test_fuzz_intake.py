"""Nasty but well-formed input at the intake endpoints: every one answers a clear 4xx, or (for
webhooks, once verified) a 202 with the delivery kept as a dead letter. Never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from laurel.db import Database
from laurel.events.connectors.verify import sign
from laurel.events.models import CompletionEvent
from tests.conftest import Tenant, completion
from tests.events.connectors import (
    test_absorb,
    test_canvas,
    test_cornerstone,
    test_docebo,
    test_litmos,
    test_moodle,
    test_openedx,
)
from tests.events.connectors.caliper.test_api import _graded, envelope
from tests.events.connectors.support import add_secret, count_events, post
from tests.events.connectors.xapi.support import bearer, statement
from tests.imports import support as imports


def answered(send: Callable[[], Any]) -> Any:
    """The response to ``send()``; an exception the app let escape (a 500 in production)
    fails the test by name."""
    try:
        return send()
    except (OverflowError, TypeError, RecursionError) as exc:
        pytest.fail(f"escaped as {type(exc).__name__}: {exc}")


@pytest.fixture(autouse=True)
def imports_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "uploads"
    monkeypatch.setenv("LAUREL_IMPORTS_DIR", str(folder))
    return folder


# --------------------------------------------------------------------------- webhook senders


def _send(client: TestClient, tenant: Tenant, name: str, secret: str, raw: bytes) -> Any:
    if name in ("canvas", "litmos"):
        return post(client, tenant, name, raw, query={"token": secret})
    if name == "openedx":
        return post(client, tenant, name, raw, headers={"X-Laurel-Signature": sign(raw, secret)})
    if name == "docebo":
        return post(client, tenant, name, raw, headers=test_docebo._basic(secret))
    if name == "absorb":
        signature = sign(raw, secret).removeprefix("sha256=")
        return post(client, tenant, name, raw, headers={"X-Absorb-Signature": signature})
    if name == "cornerstone":
        return post(client, tenant, name, raw, headers={"x-api-key": secret})
    return post(client, tenant, name, raw)  # moodle: the token is in the body


def _secret(client: TestClient, tenant: Tenant, name: str) -> str:
    if name == "cornerstone":
        add_secret(client, tenant, name, secret=test_cornerstone.API_KEY)
        return test_cornerstone.API_KEY
    return str(add_secret(client, tenant, name)["secret"])


def _with_time(name: str, secret: str, when: Any) -> dict[str, Any]:
    """A valid delivery of ``name`` whose completion time is ``when``."""
    if name == "moodle":
        return test_moodle.course_completed(secret, timecreated=when)
    if name == "canvas":
        body = test_canvas.course_completed()
        body["body"]["progress"]["completed_at"] = when
        return body
    if name == "openedx":
        body = test_openedx.passing()
        body["metadata"]["time"] = when
        return body
    if name == "docebo":
        body = test_docebo.completed()
        body["payload"]["completion_date"] = when
        return body
    if name == "absorb":
        return test_absorb.completed(dateCompleted=when)
    if name == "litmos":
        body = test_litmos.achievement()
        body["data"]["achievementDate"] = when
        return body
    body = test_cornerstone.delivery()
    body["records"][0]["value"]["headers"]["timestamp"] = when
    return body


PUSHED = ["moodle", "canvas", "openedx", "docebo", "absorb", "litmos", "cornerstone"]
OUT_OF_RANGE_TIMES = {
    # Parses, but moving it to UTC leaves datetime's range: OverflowError at base.py:196.
    "year_9999_west_of_utc": "9999-12-31T23:59:59-05:00",
    "year_1_east_of_utc": "0001-01-01T00:00:00+05:00",
    # A JSON integer too large for a float: OverflowError at base.py:179.
    "int_beyond_float": 10**400,
}


def _dead_lettered(response: Any) -> None:
    assert response.status_code == 202, response.text
    assert response.json()["dead_letter_id"] is not None, response.text


@pytest.mark.parametrize("when", OUT_OF_RANGE_TIMES.values(), ids=OUT_OF_RANGE_TIMES.keys())
@pytest.mark.parametrize("name", PUSHED)
def test_webhook_time_out_of_datetime_range_is_a_dead_letter_not_a_500(
    client: TestClient, tenant: Tenant, database: Database, name: str, when: Any
) -> None:
    secret = _secret(client, tenant, name)
    raw = json.dumps(_with_time(name, secret, when)).encode()
    response = answered(lambda: _send(client, tenant, name, secret, raw))
    _dead_lettered(response)
    assert count_events(database) == 0


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("absorb", lambda s: test_absorb.completed(score=10**400)),
        (
            "canvas",
            lambda s: {
                **test_canvas.course_grade_change(),
                "body": {**test_canvas.course_grade_change()["body"], "final_score": 10**400},
            },
        ),
        (
            "openedx",
            lambda s: {
                **test_openedx.certificate(),
                "certificate": {**test_openedx.certificate()["certificate"], "grade": 10**400},
            },
        ),
    ],
    ids=["absorb_score", "canvas_final_score", "openedx_grade"],
)
def test_webhook_score_too_large_for_a_float_is_not_a_500(
    client: TestClient, tenant: Tenant, name: str, body: Any
) -> None:
    """A score past a float's range is no score (``base.scaled``), never an OverflowError."""
    secret = _secret(client, tenant, name)
    raw = json.dumps(body(secret)).encode()
    response = answered(lambda: _send(client, tenant, name, secret, raw))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("status", [[], {}, ["downloadable"], {"a": 1}])
def test_openedx_certificate_status_of_the_wrong_type_is_answered_not_a_500(
    client: TestClient, tenant: Tenant, database: Database, status: Any
) -> None:
    """A certificate status that is a list or an object is not an earned status."""
    secret = _secret(client, tenant, "openedx")
    body = test_openedx.certificate()
    body["certificate"]["current_status"] = status
    response = answered(lambda: _send(client, tenant, "openedx", secret, json.dumps(body).encode()))
    assert response.status_code == 202, response.text
    assert count_events(database) == 0


@pytest.mark.parametrize("name", ["canvas", "openedx", "docebo", "absorb", "litmos", "cornerstone"])
def test_webhook_body_nested_past_the_recursion_limit_is_a_dead_letter_not_a_500(
    client: TestClient, tenant: Tenant, name: str
) -> None:
    """A body nested past the parser's recursion limit is unreadable: a dead letter."""
    secret = _secret(client, tenant, name)
    raw = b"[" * 3000 + b"]" * 3000
    response = answered(lambda: _send(client, tenant, name, secret, raw))
    _dead_lettered(response)


# Passing: the classes of webhook input checked and handled well.


@pytest.mark.parametrize("name", ["canvas", "openedx", "docebo", "absorb", "litmos", "cornerstone"])
@pytest.mark.parametrize(
    "raw", [b"{", b"\xff\xfe\x00", b"null", b'"x"', b"1", b"[{}]", b"{}", b"[" * 60 + b"]" * 60]
)
def test_webhook_unreadable_or_shapeless_bodies_are_dead_letters(
    client: TestClient, tenant: Tenant, name: str, raw: bytes
) -> None:
    secret = _secret(client, tenant, name)
    response = _send(client, tenant, name, secret, raw)
    assert response.status_code == 202, response.text
    # An object naming no event type at all is answered "ignored" (by design), else kept.
    answer = response.json()
    assert answer["dead_letter_id"] is not None or answer["ignored"] == 1, answer


@pytest.mark.parametrize("name", ["canvas", "absorb", "litmos"])
def test_webhook_fields_of_any_json_type_never_500(
    client: TestClient, tenant: Tenant, database: Database, name: str
) -> None:
    secret = _secret(client, tenant, name)
    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=300),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
    base = _with_time(name, secret, "2026-01-01T00:00:00Z")
    keys = sorted(base) if name == "absorb" else sorted(base.get("data", base.get("body", {})))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(key=st.sampled_from(keys), value=leaf)
    def check(key: str, value: Any) -> None:
        body = json.loads(json.dumps(base))
        target = body if name == "absorb" else body.get("data", body.get("body"))
        target[key] = value
        response = _send(client, tenant, name, secret, json.dumps(body).encode())
        assert response.status_code in (202, 401), response.text

    check()


# --------------------------------------------------------------------------- standards + API


YEAR_1_EAST = "0001-01-01T00:00:00+05:00"


def test_completion_at_year_1_east_of_utc_is_422_not_a_500(
    client: TestClient, tenant: Tenant
) -> None:
    """A time with no UTC equivalent Python can hold is refused by the schema (422)."""
    body = completion("y1", occurred_at=YEAR_1_EAST)
    response = answered(
        lambda: client.post("/api/v1/completions", json=body, headers=tenant.headers)
    )
    assert response.status_code == 422, response.text


def test_completion_batch_at_year_1_east_of_utc_is_refused_per_item_not_a_500(
    client: TestClient, tenant: Tenant
) -> None:
    body = {"events": [completion("y1b", occurred_at=YEAR_1_EAST), completion("ok-b")]}
    response = answered(
        lambda: client.post("/api/v1/completions/batch", json=body, headers=tenant.headers)
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def test_xapi_timestamp_at_year_1_east_of_utc_is_400_not_a_500(
    client: TestClient, tenant: Tenant
) -> None:
    body = statement(timestamp=YEAR_1_EAST)
    response = answered(
        lambda: client.post("/xapi/statements", json=body, headers=bearer(tenant.live_key))
    )
    assert response.status_code == 400, response.text


def test_caliper_event_time_at_year_1_east_of_utc_is_400_not_a_500(
    client: TestClient, tenant: Tenant
) -> None:
    event = _graded(70)
    event["eventTime"] = YEAR_1_EAST
    response = answered(
        lambda: client.post("/caliper", json=envelope(event), headers=tenant.headers)
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("kind", [[], [1], {}, {"a": 1}])
def test_xapi_object_type_of_the_wrong_type_is_400_not_a_500(
    client: TestClient, tenant: Tenant, kind: Any
) -> None:
    """An objectType that is a list or an object is a 400 naming it."""
    body = statement()
    body["object"]["objectType"] = kind
    response = answered(
        lambda: client.post("/xapi/statements", json=body, headers=bearer(tenant.live_key))
    )
    assert response.status_code == 400, response.text


def test_import_options_nested_past_the_recursion_limit_is_422_not_a_500(
    client: TestClient, tenant: Tenant
) -> None:
    deep = '{"a":' * 3000 + "1" + "}" * 3000
    response = answered(
        lambda: client.post(
            "/api/v1/imports",
            headers=tenant.headers,
            files={"file": ("report.csv", imports.report([imports.good_row(1)]))},
            data={"options": deep},
        )
    )
    assert response.status_code == 422, response.text


def test_import_with_out_of_range_dates_and_scores_finishes_with_rejections(
    client: TestClient, tenant: Tenant
) -> None:
    """Out-of-range dates reject their rows; the import finishes with the good rows in."""
    rows = [
        ["E1", "e1@example.com", "A", "SEC-101", "S", "0000-01-01", "88"],
        ["E2", "e2@example.com", "A", "SEC-101", "S", "9999-12-31T23:59:59-05:00", "1e400"],
        ["E3", "e3@example.com", "A", "SEC-101", "S", "99999999", "NaN"],
        imports.good_row(4),
    ]
    response = client.post(
        "/api/v1/imports",
        headers=tenant.headers,
        files={"file": ("report.csv", imports.report(rows))},
    )
    assert response.status_code == 202, response.text
    body = imports.finished(client, tenant, response.json()["id"], tenant.headers)
    assert body["status"] == "completed", body
    assert (body["accepted"], body["rejected"]) == (1, 3), body


# Passing: the classes of standards/API/import input checked and handled well.


@pytest.mark.parametrize("lit", ["1e400", "-1e400", "123456789012345678901234567890"])
def test_out_of_range_scores_are_refused_by_completions_and_xapi(
    client: TestClient, tenant: Tenant, lit: str
) -> None:
    raw = json.dumps(completion("s-" + lit)).replace('"score": 0.92', f'"score": {lit}')
    headers = {**tenant.headers, "content-type": "application/json"}
    assert client.post("/api/v1/completions", content=raw, headers=headers).status_code == 422
    result = {"score": {"scaled": 0.5}, "completion": True}
    raw = json.dumps(statement(result=result)).replace('"scaled": 0.5', f'"scaled": {lit}')
    xapi_headers = {**bearer(tenant.live_key), "content-type": "application/json"}
    assert client.post("/xapi/statements", content=raw, headers=xapi_headers).status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"null",
        b'"x"',
        b"1",
        b"{",
        b"\xff\xfe",
        b"[{}]",
        b"{}",
        b"NaN",
        b"[" * 3000 + b"]" * 3000,
    ],
)
@pytest.mark.parametrize("url", ["/api/v1/completions", "/caliper", "/xapi/statements"])
def test_unreadable_json_bodies_are_4xx(
    client: TestClient, tenant: Tenant, url: str, raw: bytes
) -> None:
    headers = {**bearer(tenant.live_key), "content-type": "application/json"}
    response = client.post(url, content=raw, headers=headers)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"\xff\xfe\xfa\x00\x81" * 100, "report.csv"),
        ("E1,Ana D\xedaz\n".encode("latin-1"), "report.csv"),
        (b"", "report.csv"),
        (b"PK\x03\x04truncated", "report.xlsx"),
        (b"learner_id,course\nE1,C1\n", "report.xlsx"),
        (
            imports.report([["E1" + "x" * 200_000, "e", "A", "C", "S", "2026-01-01", "1"]]),
            "report.csv",
        ),
    ],
    ids=["garbage", "latin1", "empty", "truncated_zip", "csv_as_xlsx", "huge_cell"],
)
def test_unreadable_import_files_are_422(
    client: TestClient, tenant: Tenant, content: bytes, filename: str
) -> None:
    response = client.post(
        "/api/v1/imports", headers=tenant.headers, files={"file": (filename, content)}
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(("given", "most"), [("1e400", "100.0"), ("70", "1e400"), ("70", "-1e400")])
def test_caliper_scores_past_a_float_are_no_score(
    client: TestClient, tenant: Tenant, database: Database, given: str, most: str
) -> None:
    """``1e400`` parses as infinity: no score (progress with a note), never a NaN stored."""
    event = _graded(70)
    raw = json.dumps(envelope(event))
    raw = raw.replace('"scoreGiven": 70', f'"scoreGiven": {given}')
    raw = raw.replace('"maxScore": 100.0', f'"maxScore": {most}')
    headers = {**tenant.headers, "content-type": "application/json"}
    response = client.post("/caliper", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    with database.sessionmaker() as session:
        stored = session.scalars(select(CompletionEvent)).all()
    assert [(e.outcome, e.score) for e in stored] == [("in_progress", None)]
