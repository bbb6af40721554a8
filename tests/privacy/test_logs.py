"""Secrets and personal data never reach the logs, even at DEBUG."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import pytest
from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.kit.logs import RedactingFilter, redact
from laurel.privacy import phi
from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.imports.support import report, upload
from tests.privacy.support import ROSTER, learner_id

NAME = "Zelda Quartz"
EMAIL = "zelda.quartz@example.org"
TIN = "123-45-6789"


def test_a_whole_flow_at_debug_logs_no_secret_and_no_personal_data(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    h = tenant.headers
    fixed_program(client, tenant)
    upload(
        client,
        tenant,
        report([["Z9", EMAIL, "Active", "Sales", "Kim", "Employee", "US", ""]], ROSTER),
        kind="roster",
    )
    body = completion("z-1", learner="Z9")
    body["learner"].update(name=NAME, email=EMAIL)
    made = client.post("/api/v1/completions", json=body, headers=h)
    assert made.status_code in (200, 201, 202), made.text
    reward_id = made.json()["rewards"][0]["id"]
    # A bad event that echoes the person back in its error answer.
    bad = completion("z-2", learner="Z9", outcome="graduated")
    bad["learner"].update(name=NAME, email=EMAIL)
    assert client.post("/api/v1/completions", json=bad, headers=h).status_code == 422
    assert (
        client.get(
            "/api/v1/rewards", headers={"Authorization": "Bearer lrl_live_wrong"}
        ).status_code
        == 401
    )
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    shown = client.get(f"/api/v1/rewards/{reward_id}", headers=h).json()
    code = shown["delivery"]["details"]["code"]
    assert code

    who = learner_id(client, tenant, "Z9")
    with database.session() as session:
        phi.set_hipaa(session, tenant.id, enabled=True, actor="test")
    put = client.put(
        f"/api/v1/privacy/learners/{who}/phi", headers=h, json={"fields": {"tin_note": TIN}}
    )
    assert put.status_code == 200
    access = client.post(
        "/api/v1/privacy/requests", headers=h, json={"learner_id": who, "kind": "access"}
    ).json()
    archive = client.get(f"/api/v1/privacy/requests/{access['id']}/archive", headers=h)
    data = zipfile.ZipFile(io.BytesIO(archive.content)).read("data.json").decode()
    assert NAME in data  # the archive has it; the logs must not
    assert client.get("/api/v1/audit/export", headers=h).status_code == 200
    deletion = client.post(
        "/api/v1/privacy/requests", headers=h, json={"learner_id": who, "kind": "deletion"}
    ).json()
    client.post(f"/api/v1/privacy/requests/{deletion['id']}/fulfil", headers=h)

    out, err = capfd.readouterr()
    logged = "\n".join(
        [caplog.text, out, err] + [json.dumps(r.__dict__, default=str) for r in caplog.records]
    )
    assert caplog.records, "the flow logged nothing: the test would prove nothing"
    secrets = {
        "live API key": tenant.live_key,
        "test API key": tenant.test_key,
        "key secret part": tenant.live_key.rsplit("_", 1)[-1],
        "email": EMAIL,
        "name": NAME,
        "surname": "Quartz",
        "TIN": TIN,
        "gift code": code,
    }
    leaked = {what: value for what, value in secrets.items() if value in logged}
    assert leaked == {}


def test_redaction_backstop() -> None:
    line = (
        "provider said 400 for ana@example.com with key lrl_live_AbC-123_x, "
        "tin 12-3456789 / 123-45-6789, Authorization: Bearer abc"
    )
    assert redact(line) == (
        "provider said 400 for [email] with key lrl_live_[redacted], "
        "tin [tin] / [tin], Authorization: [redacted] abc"
    )
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "to %s", ("ana@example.com",), None
    )
    try:
        raise ValueError("bad ana@example.com")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "to [email]"
    assert record.exc_text is not None
    assert "ana@" not in record.exc_text
    assert "[email]" in record.exc_text
