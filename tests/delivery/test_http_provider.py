"""A provider over real HTTP: a gift-card API on a loopback port, with its own order ledger.

Timeouts are the ambiguous failure: the order may have been placed although no answer came.
The provider's idempotency key makes the retry safe: the API answers the first order again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import (
    Issued,
    IssueOrder,
    PermanentProviderError,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant, completion
from tests.delivery.support import settle, trail
from tests.factories import fixed_program, program_budget

CLIENT_TIMEOUT = 1.0
UNTOUCHED = {"limit": "100.00", "reserved": "0.00", "spent": "0.00", "available": "100.00"}
SPENT = {"limit": "100.00", "reserved": "0.00", "spent": "25.00", "available": "75.00"}


@dataclass(frozen=True)
class Answer:
    """How the API answers one order request: an error status, or the order held back until
    the client has given up and sent its next request (``hold``)."""

    status: int = 201
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False


class GiftApi:
    """The outside system: POST /orders with an Idempotency-Key, GET /orders/{key}."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, str]] = {}
        self.requests: list[tuple[str, str, float]] = []
        """(method, idempotency key, monotonic arrival time) of every request."""
        self.script: list[Answer] = []
        self._changed = threading.Condition()
        self._closing = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()  # joins the request threads
        self._thread.join(5)

    def _arrive(self, method: str, key: str) -> tuple[int, Answer | None]:
        with self._changed:
            self.requests.append((method, key, time.monotonic()))
            self._changed.notify_all()
            answer = self.script.pop(0) if method == "POST" and self.script else None
            return len(self.requests), answer

    def _order(self, key: str, body: dict[str, Any]) -> dict[str, str]:
        with self._changed:
            return self.orders.setdefault(
                key,
                {
                    "id": f"ord_{uuid.uuid4().hex[:12]}",
                    "code": f"GIFT-{uuid.uuid4().hex[:12].upper()}",
                    "amount_minor": str(body["amount_minor"]),
                },
            )

    def _hold(self, seen: int) -> None:
        """Answer nothing until another request arrives (the client retried) or we stop."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.requests) > seen or self._closing, 15)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                del format, args

            def _send(self, status: int, body: object, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting; the order stands all the same

            def do_POST(self) -> None:
                key = self.headers["Idempotency-Key"]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen, answer = api._arrive("POST", key)
                answer = answer or Answer()
                if answer.status >= 400:
                    self._send(answer.status, {"error": "scripted"}, answer.headers)
                    return
                order = api._order(key, body)
                if answer.hold:
                    api._hold(seen)
                self._send(201, order, {})

            def do_GET(self) -> None:
                key = self.path.rsplit("/", 1)[-1]
                api._arrive("GET", key)
                found = api.orders.get(key)
                self._send(200 if found else 404, found or {"error": "not_found"}, {})

        return Handler


class GiftApiProvider:
    """What a real provider module looks like: HTTP errors mapped to the worker's two kinds."""

    name = "giftapi"

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT)

    def issue(self, order: IssueOrder) -> Issued:
        body = {"amount_minor": order.amount.minor, "currency": order.amount.currency}
        headers = {"Idempotency-Key": order.idempotency_key}
        return _issued(self._call("POST", "/orders", json=body, headers=headers))

    def lookup(self, idempotency_key: str) -> Issued | None:
        response = self._call("GET", f"/orders/{idempotency_key}")
        return None if response.status_code == 404 else _issued(response)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientProviderError(f"timed out after {CLIENT_TIMEOUT}s") from exc
        except httpx.TransportError as exc:
            raise TransientProviderError(f"unreachable: {exc}") from exc


def _issued(response: httpx.Response) -> Issued:
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After")
        raise TransientProviderError(
            f"HTTP {response.status_code}", float(retry_after) if retry_after else None
        )
    if response.status_code >= 400:
        raise PermanentProviderError(f"HTTP {response.status_code}: order refused")
    order = response.json()
    return Issued(reference=order["id"], details={"code": order["code"]})


@pytest.fixture
def gift_api() -> Iterator[GiftApi]:
    api = GiftApi()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def providers(database: Database, gift_api: GiftApi) -> Iterator[ProviderRegistry]:
    provider = GiftApiProvider(gift_api.url)
    registry = default_providers(database)
    registry.add(provider)
    yield registry
    provider.http.close()


def _start(client: TestClient, tenant: Tenant) -> tuple[str, uuid.UUID]:
    budget = {"amount": "100.00", "currency": "USD"}
    program = fixed_program(client, tenant, amount="25.00", provider="giftapi", budget=budget)
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    assert response.status_code == 202, response.text
    return program["id"], uuid.UUID(response.json()["rewards"][0]["id"])


def _code(client: TestClient, tenant: Tenant, reward_id: uuid.UUID) -> str:
    response = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers)
    code: str = response.json()["delivery"]["details"]["code"]
    return code


def test_timeout_is_transient_and_the_retry_gets_the_first_order(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    gift_api: GiftApi,
) -> None:
    program_id, reward_id = _start(client, tenant)
    gift_api.script = [Answer(hold=True)]  # placed the order, answered too late

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.attempts == 2
    assert [(m, k) for m, k, _ in gift_api.requests] == [("POST", str(reward_id))] * 2
    (order,) = gift_api.orders.values()
    assert reward.provider_reference == order["id"]
    assert _code(client, tenant, reward_id) == order["code"]
    errors = [d["error"] for _, d in trail(database, reward_id) if "retry_in_seconds" in d]
    assert errors == [f"giftapi: timed out after {CLIENT_TIMEOUT}s"]
    assert program_budget(client, tenant, program_id) == SPENT


def test_server_errors_and_rate_limits_are_retried_honouring_retry_after(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    gift_api: GiftApi,
) -> None:
    program_id, reward_id = _start(client, tenant)
    gift_api.script = [Answer(status=503), Answer(status=429, headers={"Retry-After": "1"})]

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.attempts == 3
    times = [t for _, _, t in gift_api.requests]
    assert len(times) == 3
    assert times[2] - times[1] >= 1.0  # the provider asked for a second's rest
    assert len(gift_api.orders) == 1
    assert program_budget(client, tenant, program_id) == SPENT


def test_refused_order_is_permanent_and_releases_the_budget(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    gift_api: GiftApi,
) -> None:
    program_id, reward_id = _start(client, tenant)
    gift_api.script = [Answer(status=422)]

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "failed"
    assert reward.last_error == "giftapi: HTTP 422: order refused"
    assert len(gift_api.requests) == 1
    assert gift_api.orders == {}
    assert program_budget(client, tenant, program_id) == UNTOUCHED


def test_giving_up_after_timeouts_settles_with_the_provider_first(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    gift_api: GiftApi,
) -> None:
    program_id, reward_id = _start(client, tenant)
    gift_api.script = [Answer(hold=True), Answer(hold=True)]  # every answer comes too late
    worker = Worker(database, settings.model_copy(update={"worker_max_attempts": 2}), providers)

    reward = settle(database, reward_id, worker)

    (order,) = gift_api.orders.values()  # the provider did issue, once
    assert reward.state == "delivered", f"{reward.state}: {reward.last_error}"
    assert reward.provider_reference == order["id"]
    assert program_budget(client, tenant, program_id) == SPENT
