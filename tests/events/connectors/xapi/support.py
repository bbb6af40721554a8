"""Helpers for the xAPI tests: fixture files, headers, a statement factory."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from tests.conftest import SHARED

FIXTURES = SHARED / "fixtures" / "lms"
VERSION = {"X-Experience-API-Version": "1.0.3"}


def fixture(folder: str, name: str) -> Any:
    return json.loads((FIXTURES / folder / name).read_text())


def basic(key: str, user: str = "lms") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}", **VERSION}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **VERSION}


def statement(
    verb: str = "completed",
    *,
    email: str = "ana@example.com",
    activity: str = "https://lms.example.com/courses/SEC-101",
    statement_id: str | None = None,
    timestamp: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": statement_id or str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "name": "Ana Díaz", "mbox": f"mailto:{email}"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": {"name": {"en-US": "Security Awareness"}},
        },
    }
    if timestamp is not None:
        body["timestamp"] = timestamp
    body.update(extra)
    return body


def voiding(target: str, *, statement_id: str | None = None) -> dict[str, Any]:
    return {
        "id": statement_id or str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:admin@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    }
