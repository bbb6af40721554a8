"""Tango RaaS v2 and Tremendous v2 as local HTTP servers on loopback, for the provider tests.

Each enforces what the vendor documents (see ../shared/reference/providers.md): the
authentication scheme, the request shapes (JSON numbers for amounts, identifier patterns,
enums), the idempotency answers (Tango: 201 first, 200 with the *original* order on a replay,
whatever it asked; Tremendous: 200 first, 201 on a same-payload replay, 409 on a different one)
and the error bodies. A script injects faults into ``POST /orders``: an error status with
headers, a stall before the order is placed (the client times out, nothing was ordered), or a
lost answer (the order is placed, the answer comes only after the client gave up).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Fault:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False
    """Answer nothing, order nothing, until the client has given up."""
    lost: bool = False
    """Place the order, answer only after the client has given up."""


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    at: float = 0.0
    """``time.monotonic()`` on arrival."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


class FakeServer:
    """A threaded HTTP server whose routes are methods of a subclass."""

    def __init__(self, stall_seconds: float = 3.0) -> None:
        self.requests: list[Seen] = []
        self.script: list[Fault] = []
        self.stall_seconds = stall_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def orders_posted(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST" and r.path.endswith("/orders"))

    # subclasses
    def authorized(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def route(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                del format, args

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body, default=_number).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up; what was done stays done

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = json.loads(raw, parse_float=Decimal) if raw else None
                except ValueError:
                    self._send(400, fake.error_body(400, "malformed JSON"), {})
                    return
                request = Request(self.command, parts.path, parse_qs(parts.query), body, headers)
                with fake._lock:
                    fake.requests.append(
                        Seen(
                            request.method,
                            request.path,
                            request.query,
                            request.body,
                            request.headers,
                            time.monotonic(),
                        )
                    )
                    posting = self.command == "POST" and parts.path.endswith("/orders")
                    fault = fake.script.pop(0) if posting and fake.script else None
                if not fake.authorized(headers):
                    self._send(*fake.unauthorized())
                    return
                if fault is not None and fault.status:
                    self._send(
                        fault.status, fake.error_body(fault.status, "scripted"), fault.headers
                    )
                    return
                if fault is not None and fault.stall:
                    fake._stopping.wait(fake.stall_seconds)
                    return
                answer = fake.route(request)
                if fault is not None and fault.lost:
                    fake._stopping.wait(fake.stall_seconds)
                self._send(*answer)

            do_GET = _handle
            do_POST = _handle

        return H


def _number(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)  # the fake's answers only; Laurel parses them into Decimal again
    raise TypeError(type(value))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


_IDENT = re.compile(r"^[-a-zA-Z0-9]{5,100}$")
_UTID = re.compile(r"^[uU]\d+$")
_REF = re.compile(r"^[A-Za-z0-9]{0,100}$")
TANGO_DELIVERY = {"NONE", "EMAIL", "PHONE", "ADDRESS", "EMBEDDED", "EMBEDDED_COMPONENT", "WHATSAPP"}


class FakeTango(FakeServer):
    """Tango RaaS v2: Basic auth; one customer, one USD account, a small catalog."""

    platform = "LaurelTestPlatform"
    key = "raas-test-key-0123456789"
    customer = "laurel-customer"
    account = "laurel-account"

    def __init__(self, stall_seconds: float = 3.0) -> None:
        super().__init__(stall_seconds)
        self.orders: dict[str, dict[str, Any]] = {}
        """By externalRefID (per account, as Tango keeps them)."""
        self.balance = Decimal("5000.00")
        self.catalog_items: dict[str, dict[str, Any]] = {
            "U561593": {
                "brand": "Amazon.com",
                "type": "gift card",
                "fixed": None,
                "currency": "USD",
            },
            "U157189": {
                "brand": "Visa Prepaid",
                "type": "cash equivalent",
                "fixed": Decimal("25"),
                "currency": "USD",
            },
            "U666425": {"brand": "Red Cross", "type": "donation", "fixed": None, "currency": "USD"},
        }

    def authorized(self, headers: dict[str, str]) -> bool:
        expected = base64.b64encode(f"{self.platform}:{self.key}".encode()).decode()
        return headers.get("authorization") == f"Basic {expected}"

    def unauthorized(self) -> tuple[int, Any, dict[str, str]]:
        return 401, self.error_body(401, "Full authentication is required"), {}

    def error_body(self, status: int, message: str, errors: list[Any] | None = None) -> Any:
        return {
            "timestamp": "2026-11-26T06:00:00Z",
            "requestId": str(uuid.uuid4()),
            "path": "/raas/v2/orders",
            "httpCode": status,
            "httpPhrase": {400: "Bad Request", 429: "Too Many Requests"}.get(status, "Error"),
            "i18nKey": f"{status}.000",
            "message": message,
            "errors": errors or [],
        }

    def route(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        path = request.path.removeprefix("/raas/v2")
        if request.method == "POST" and path == "/orders":
            return self._create(request)
        if request.method == "GET" and path == "/orders":
            return self._list(request)
        if request.method == "GET" and path.startswith("/orders/"):
            ref = path.rsplit("/", 1)[1]
            found = next((o for o in self.orders.values() if o["referenceOrderID"] == ref), None)
            return (200, found, {}) if found else (404, self.error_body(404, "not found"), {})
        if request.method == "GET" and path == "/catalogs":
            return 200, self._catalog(), {}
        if request.method == "GET" and path == f"/accounts/{self.account}":
            return (
                200,
                {
                    "accountIdentifier": self.account,
                    "accountNumber": "A12-345",
                    "displayName": "Laurel",
                    "currencyCode": "USD",
                    "currentBalance": self.balance,
                    "status": "ACTIVE",
                },
                {},
            )
        return 404, self.error_body(404, f"no route {request.method} {path}"), {}

    def _invalid(self, body: Any) -> list[dict[str, Any]]:
        problems = []

        def bad(path: str, message: str) -> None:
            problems.append({"path": path, "code": 400, "i18nKey": "400.001", "message": message})

        if not isinstance(body, dict):
            return [{"path": "", "code": 400, "message": "body must be an object"}]
        for name in ("customerIdentifier", "accountIdentifier"):
            if not isinstance(body.get(name), str) or not _IDENT.match(body[name]):
                bad(name, "must match ^[-a-zA-Z0-9]{5,100}$")
        if not isinstance(body.get("utid"), str) or not _UTID.match(body["utid"]):
            bad("utid", "must match ^[uU]\\d+$")
        elif body["utid"].upper() not in self.catalog_items:
            bad("utid", "not in the platform catalog")
        if not _is_number(body.get("amount")) or body["amount"] < 0:
            bad("amount", "must be a number >= 0")
        if body.get("deliveryMethod", "EMAIL") not in TANGO_DELIVERY:
            bad("deliveryMethod", "unknown delivery method")
        ref = body.get("externalRefID", "")
        if not isinstance(ref, str) or not _REF.match(ref):
            bad("externalRefID", "up to 100 alphanumeric characters")
        if body.get("deliveryMethod", "EMAIL") == "EMAIL" and not (body.get("recipient") or {}).get(
            "email"
        ):
            bad("recipient.email", "required for EMAIL delivery")
        for name in ("firstName", "lastName"):
            value = (body.get("recipient") or {}).get(name, "")
            if any(ch in value for ch in "<>/"):
                bad(f"recipient.{name}", "must not contain < > /")
        return problems

    def _create(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        body = request.body
        problems = self._invalid(body)
        if problems:
            return 400, self.error_body(400, "Validation failed", problems), {}
        if body["customerIdentifier"] != self.customer or body["accountIdentifier"] != self.account:
            return 403, self.error_body(403, "account not owned by this platform"), {}
        ref = body.get("externalRefID")
        with self._lock:
            if ref and ref in self.orders:
                # "Existing order found for given external ref ID": the original, whatever asked.
                return 200, self.orders[ref], {}
            if self.balance < body["amount"]:
                return 402, self.error_body(402, "Insufficient funds"), {}
            self.balance -= body["amount"]
            order = self._order(body)
            self.orders[ref or order["referenceOrderID"]] = order
        return 201, order, {}

    def _order(self, body: dict[str, Any]) -> dict[str, Any]:
        item = self.catalog_items[body["utid"].upper()]
        number = f"RA{uuid.uuid4().int % 10**12:012d}"
        money = {
            "value": body["amount"],
            "currencyCode": item["currency"],
            "exchangeRate": 1,
            "fee": 0,
            "total": body["amount"],
        }
        return {
            "referenceOrderID": number,
            "referenceLineItemID": f"L{number}",
            "externalRefID": body.get("externalRefID"),
            "customerIdentifier": body["customerIdentifier"],
            "accountIdentifier": body["accountIdentifier"],
            "amountCharged": money,
            "denomination": {"value": body["amount"], "currencyCode": item["currency"]},
            "utid": body["utid"],
            "rewardName": f"{item['brand']} Gift Card",
            "reward": {
                "credentials": {"Claim Code": f"TNG-{uuid.uuid4().hex[:10].upper()}"},
                "credentialList": [
                    {
                        "label": "Claim Code",
                        "value": f"TNG-{uuid.uuid4().hex[:10].upper()}",
                        "type": "text",
                        "credentialType": "cardNumber",
                    },
                    {
                        "label": "PIN",
                        "value": f"{uuid.uuid4().int % 10**6:06d}",
                        "type": "text",
                        "credentialType": "PIN",
                    },
                ],
                "redemptionInstructions": "Redeem at the brand's site.",
            },
            "recipient": body.get("recipient"),
            "deliveryMethod": body.get("deliveryMethod", "EMAIL"),
            "status": "COMPLETE",
            "createdAt": "2026-11-26T06:00:00Z",
        }

    def _list(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        ref = (request.query.get("externalRefID") or [""])[0]
        account = (request.query.get("accountIdentifier") or [self.account])[0]
        found = [
            {k: v for k, v in o.items() if k != "reward"} | {"orderStatus": "COMPLETE"}
            for key, o in self.orders.items()
            if (not ref or key == ref) and o["accountIdentifier"] == account
        ]
        page = {
            "number": 0,
            "elementsPerBlock": 100,
            "resultCount": len(found),
            "totalCount": len(found),
        }
        return 200, {"page": page, "orders": found}, {}

    def _catalog(self) -> dict[str, Any]:
        brands = []
        for utid, item in self.catalog_items.items():
            variable = item["fixed"] is None
            brands.append(
                {
                    "brandKey": f"B{utid[1:]}",
                    "brandName": item["brand"],
                    "imageUrls": {
                        "80w-326ppi": f"https://img/{utid}-80.png",
                        "300w-326ppi": f"https://img/{utid}-300.png",
                    },
                    "status": "active",
                    "items": [
                        {
                            "utid": utid,
                            "rewardName": item["brand"],
                            "currencyCode": item["currency"],
                            "countries": ["US"],
                            "valueType": "VARIABLE_VALUE" if variable else "FIXED_VALUE",
                            "rewardType": item["type"],
                            "status": "active",
                            **(
                                {"minValue": Decimal("0.01"), "maxValue": Decimal("2000")}
                                if variable
                                else {"faceValue": item["fixed"]}
                            ),
                        }
                    ],
                }
            )
        return {"catalogName": "Laurel test catalog", "brands": brands}


TREMENDOUS_DELIVERY = {"EMAIL", "LINK", "PHONE"}


class FakeTremendous(FakeServer):
    """Tremendous v2: Bearer auth; the balance funding source; a few products."""

    api_key = "TEST_tremendous_key_abc123"

    def __init__(self, stall_seconds: float = 3.0) -> None:
        super().__init__(stall_seconds)
        self.orders: dict[str, dict[str, Any]] = {}
        """By external_id."""
        self.payloads: dict[str, Any] = {}
        self.conflicts = True
        """409 for a replay with other parameters (the SDK's docstring); False: 201 with the
        original order, as the API reference page describes every replay."""
        self.available_cents = 500_000
        self.products: dict[str, dict[str, Any]] = {
            "OKMHM2X2OHYV": {
                "name": "Amazon.com",
                "category": "merchant_card",
                "skus": [{"min": 5, "max": 2000}],
            },
            "Q24BD9EZ332JT": {
                "name": "Virtual Visa",
                "category": "visa_card",
                "skus": [{"min": 25, "max": 25}, {"min": 50, "max": 50}],
            },
            "ET0ZVETV5ILN": {
                "name": "PayPal",
                "category": "paypal",
                "skus": [{"min": 1, "max": 5000}],
            },
        }

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.api_key}"

    def unauthorized(self) -> tuple[int, Any, dict[str, str]]:
        return 401, self.error_body(401, "Invalid API key"), {}

    def error_body(self, status: int, message: str, payload: Any = None) -> Any:
        if status == 429:
            return {"error": {"message": "Too many requests", "payload": {}}}
        return {"status": status, "errors": {"message": message, "payload": payload or {}}}

    def route(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        path = request.path.removeprefix("/api/v2")
        if request.method == "POST" and path == "/orders":
            return self._create(request)
        if request.method == "GET" and path == "/orders":
            ref = (request.query.get("external_id") or [""])[0]
            found = [self._listed(o) for key, o in self.orders.items() if not ref or key == ref]
            return 200, {"orders": found, "total_count": len(found)}, {}
        if request.method == "GET" and path.startswith("/rewards/"):
            rid = path.rsplit("/", 1)[1]
            for o in self.orders.values():
                for r in o["rewards"]:
                    if r["id"] == rid:
                        return 200, {"reward": r}, {}
            return 404, self.error_body(404, "reward not found"), {}
        if request.method == "GET" and path == "/products":
            return (
                200,
                {"products": [self._product(pid, p) for pid, p in self.products.items()]},
                {},
            )
        if request.method == "GET" and path.lower() == "/funding_sources/balance":
            return (
                200,
                {
                    "funding_source": {
                        "id": "BALANCE01",
                        "method": "balance",
                        "status": "active",
                        "usage_permissions": ["api_orders"],
                        "meta": {"available_cents": self.available_cents, "pending_cents": 0},
                    }
                },
                {},
            )
        return 404, self.error_body(404, f"no route {request.method} {path}"), {}

    def _invalid(self, body: Any) -> dict[str, Any]:
        problems: dict[str, Any] = {}
        if not isinstance(body, dict):
            return {"body": "must be an object"}
        if not (body.get("payment") or {}).get("funding_source_id"):
            problems["payment"] = {"funding_source_id": "is required"}
        reward = body.get("reward")
        if not isinstance(reward, dict):
            problems["reward"] = "is required"
            return problems
        value = reward.get("value") or {}
        if not _is_number(value.get("denomination")) or value["denomination"] <= 0:
            problems.setdefault("reward", {})["value"] = {"denomination": "must be a number > 0"}
        products = reward.get("products")
        if not products and not reward.get("campaign_id"):
            problems.setdefault("reward", {})["products"] = "products or campaign_id is required"
        for product in products or []:
            if product not in self.products:
                problems.setdefault("reward", {})["products"] = f"unknown product {product}"
        method = (reward.get("delivery") or {}).get("method", "EMAIL")
        if method not in TREMENDOUS_DELIVERY:
            problems.setdefault("reward", {})["delivery"] = {"method": "unknown"}
        if method == "EMAIL" and not (reward.get("recipient") or {}).get("email"):
            problems.setdefault("reward", {})["recipient"] = {"email": "is required"}
        return problems

    def _create(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        body = request.body
        problems = self._invalid(body)
        if problems:
            return 400, self.error_body(400, "Invalid parameters", problems), {}
        ref = body.get("external_id")
        with self._lock:
            if ref and ref in self.orders:
                if self.payloads[ref] == body or not self.conflicts:
                    return 201, {"order": self.orders[ref]}, {}
                return (
                    409,
                    self.error_body(409, "external_id already used with other parameters"),
                    {},
                )
            cents = int(body["reward"]["value"]["denomination"] * 100)
            if cents > self.available_cents:
                return 402, self.error_body(402, "Insufficient funds"), {}
            self.available_cents -= cents
            order = self._order(body)
            if ref:
                self.orders[ref] = order
                self.payloads[ref] = body
        return 200, {"order": order}, {}

    def _order(self, body: dict[str, Any]) -> dict[str, Any]:
        order_id = uuid.uuid4().hex[:12].upper()
        reward_id = uuid.uuid4().hex[:12].upper()
        reward = body["reward"]
        return {
            "id": order_id,
            "external_id": body.get("external_id"),
            "created_at": "2026-11-26T06:00:00Z",
            "status": "EXECUTED",
            "channel": "API",
            "payment": {
                "subtotal": reward["value"]["denomination"],
                "total": reward["value"]["denomination"],
                "fees": 0,
            },
            "rewards": [
                {
                    "id": reward_id,
                    "order_id": order_id,
                    "created_at": "2026-11-26T06:00:00Z",
                    "value": {
                        "denomination": reward["value"]["denomination"],
                        "currency_code": reward["value"].get("currency_code", "USD"),
                    },
                    "recipient": reward.get("recipient"),
                    "delivery": {
                        "method": reward["delivery"]["method"],
                        "status": "SUCCEEDED",
                        "link": f"https://testflight.tremendous.com/rewards/payout/{reward_id}",
                    },
                }
            ],
        }

    @staticmethod
    def _listed(order: dict[str, Any]) -> dict[str, Any]:
        """Lists leave the reward link out (the reward itself has it)."""
        rewards = [
            r | {"delivery": {k: v for k, v in r["delivery"].items() if k != "link"}}
            for r in order["rewards"]
        ]
        return order | {"rewards": rewards}

    @staticmethod
    def _product(pid: str, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": pid,
            "name": p["name"],
            "category": p["category"],
            "currency_codes": ["USD"],
            "countries": [{"abbr": "US"}, {"abbr": "CA"}],
            "skus": p["skus"],
            "images": [{"src": f"https://img/{pid}.png", "type": "card"}],
        }
