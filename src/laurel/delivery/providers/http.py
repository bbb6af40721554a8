"""What the HTTP providers (Tango, Tremendous) share: error mapping and exact money on the wire.

Both APIs take and return amounts as JSON numbers in major units. They are parsed into
``Decimal`` (never ``float``) and written from ``Decimal`` digits, so 25.10 stays 25.10.

Errors: timeouts, unreachable hosts, 5xx and 429 are transient (retried, with the provider's
``Retry-After`` honoured); 402 (account out of funds) is transient too, since a top-up fixes it
and a route may fail over meanwhile; other 4xx are permanent (the order itself is refused).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from laurel.delivery.providers import PermanentProviderError, TransientProviderError
from laurel.kit.money import Money
from laurel.kit.retry_after import retry_after

FUNDS_RETRY_SECONDS = 300.0


def external_ref(idempotency_key: str) -> str:
    """The reward id as both providers accept it: 32 hex characters (Tango allows only
    alphanumerics, up to 100)."""
    try:
        return uuid.UUID(idempotency_key).hex
    except ValueError:
        return "".join(ch for ch in idempotency_key if ch.isalnum())[:100]


def encode(body: dict[str, Any]) -> bytes:
    """JSON with ``Decimal`` values written as exact JSON numbers."""
    numbers: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            token = f"__decimal_{len(numbers)}__"
            numbers[token] = format(value, "f")
            return token
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(body), separators=(",", ":"))
    for token, digits in numbers.items():
        text = text.replace(f'"{token}"', digits)
    return text.encode()


def decode(response: httpx.Response) -> Any:
    return json.loads(response.content, parse_float=Decimal)


def to_money(value: Any, currency: str) -> Money:
    """A provider's major-unit amount as Money; refuses amounts finer than the currency."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    money = Money.from_decimal(amount, currency)
    if money.as_decimal() != amount:
        raise PermanentProviderError(f"amount {amount} {currency} is finer than the currency")
    return money


def message_of(response: httpx.Response) -> str:
    """The provider's own words for an error, from either vendor's error shape: Tango's
    ``{message, errors: [{path, message}]}`` or Tremendous's ``{errors: {message, payload}}``
    (``error`` on a 429)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    words: list[str] = []
    if isinstance(body.get("message"), str):
        words.append(body["message"])
    details = body.get("errors")
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict):
                where = item.get("path")
                words.append(
                    f"{where}: {item.get('message')}" if where else str(item.get("message"))
                )
    for key in ("errors", "error"):
        value = body.get(key)
        if isinstance(value, dict):
            if isinstance(value.get("message"), str):
                words.append(value["message"])
            if value.get("payload"):
                words.append(json.dumps(value["payload"], default=str, separators=(",", ":")))
    return ("; ".join(words) or str(body))[:300]


def check(response: httpx.Response, vendor: str, *, rate_limit_pause: float) -> None:
    """Raise the worker's kind of error for a failed answer; return for 2xx."""
    status = response.status_code
    if status < 300:
        return
    words = message_of(response)
    if status == 429:
        raise TransientProviderError(
            f"{vendor} rate limit (HTTP 429): {words}", retry_after(response, rate_limit_pause)
        )
    if status >= 500:
        raise TransientProviderError(
            f"{vendor} HTTP {status}: {words}", retry_after(response, None)
        )
    if status == 402:
        raise TransientProviderError(
            f"{vendor} account has insufficient funds (HTTP 402): {words}",
            retry_after(response, FUNDS_RETRY_SECONDS),
        )
    raise PermanentProviderError(f"{vendor} refused the request (HTTP {status}): {words}")


class Pacer:
    """Spaces this process's requests to a vendor to its published rate (Tango: one a second,
    Tremendous: ten), so the worker's parallel calls queue here instead of collecting 429s.
    Several processes against one account still need the rate split between them."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)


def send(
    client: httpx.Client,
    vendor: str,
    method: str,
    path: str,
    pacer: Pacer | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request; no answer (timeout, refused connection) is a transient error."""
    if pacer is not None:
        pacer.wait()
    try:
        return client.request(method, path, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        # No connection, so no request: the provider cannot have ordered anything.
        raise TransientProviderError(f"{vendor} unreachable: {exc}", unsent=True) from exc
    except httpx.TimeoutException as exc:
        raise TransientProviderError(
            f"{vendor} did not answer in time ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        raise TransientProviderError(f"{vendor} unreachable: {exc}") from exc


class VendorApi:
    """One vendor's JSON API as both providers use it: a paced ``httpx`` client, every answer
    checked (:func:`check`) and decoded exactly (:func:`decode`)."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        timeout: float,
        requests_per_second: float | None,
        rate_limit_pause: float,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.vendor = vendor
        self.rate_limit_pause = rate_limit_pause
        self.pacer = Pacer(requests_per_second)
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=auth,
            timeout=timeout,
            headers={
                **(headers or {}),
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )

    def close(self) -> None:
        self.http.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send(self.http, self.vendor, method, path, self.pacer, **kwargs)

    def check(self, response: httpx.Response) -> None:
        check(response, self.vendor, rate_limit_pause=self.rate_limit_pause)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send, raise the worker's kind of error for a failure, answer the decoded body."""
        response = self.send(method, path, **kwargs)
        self.check(response)
        return decode(response)

    def place(
        self, path: str, body: dict[str, Any], find: Callable[[], dict[str, Any] | None]
    ) -> tuple[Any, bool]:
        """POST an order keyed by the reward. A 409 (the key is taken) is settled by ``find``
        (the order already placed for the key); answers (decoded body or found order, found)."""
        response = self.send("POST", path, content=encode(body))
        if response.status_code == 409:
            found = find()
            if found is not None:
                return found, True
        self.check(response)
        return decode(response), False
