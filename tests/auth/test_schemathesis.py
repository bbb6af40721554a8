"""schemathesis fuzzes every operation of the OpenAPI document, authenticated: no 5xx.

Bounded and deterministic: a few examples per operation (``FUZZ_EXAMPLES``), derandomized, so
the run takes well under two minutes and fails the same way twice.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Ok

from tests.auth.support import plain_client
from tests.conftest import Tenant, completion
from tests.factories import fixed_program

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
# Downloads from the URL it is given: fuzzing it would reach beyond loopback.
OUTBOUND = {"POST /api/v1/screening/lists"}


def _fuzz(operation: Any, key: str, failures: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def fuzz(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {key}"})
        if response.status_code >= 500:
            failures.append(f"{operation.label}: {response.status_code} {response.text[:300]}")

    fuzz()


def test_no_operation_answers_with_a_server_error(app: FastAPI, tenant: Tenant) -> None:
    with plain_client(app, base_url="https://testserver") as client:
        # Some data, so reads and actions meet real rows as well as missing ones.
        fixed_program(client, tenant)
        sent = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
        assert sent.status_code in {200, 201, 202}, sent.text

        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        failures: list[str] = []
        operations = 0
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                failures.append(f"the OpenAPI document has an invalid operation: {result}")
                continue
            operation = result.ok()
            if operation.label in OUTBOUND:
                continue
            _fuzz(operation, tenant.live_key, failures)
            operations += 1
    assert operations >= 80
    assert not failures, "\n".join(failures)
