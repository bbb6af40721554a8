"""The fulfilment provider interface. Real providers implement the same two calls.

A provider is an outside system that hands a learner something of value. Laurel calls it with
the reward id as the idempotency key: asking twice with the same key must return the first
issuance, never a second one. ``lookup`` answers "did you already issue for this key?" and is
how a reward left ``issuing`` by a crash is settled without paying twice.

Errors tell the worker what to do: :class:`TransientProviderError` (timeouts, 5xx, rate
limits) is retried with backoff; :class:`PermanentProviderError` (rejected order, unsupported
value) fails the reward and releases its budget.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from laurel.kit.money import Money

OWN_CHANNELS = frozenset({"link", "points"})
"""Laurel's own delivery channels. A link pays nothing itself (the learner's choice goes to the
sandbox in test mode) and points keep separate books per mode, so test mode keeps them rather
than swapping in the sandbox."""


@dataclass(frozen=True, slots=True)
class IssueOrder:
    idempotency_key: str
    """The reward id. Stable across retries, crashes and workers."""
    organization_id: uuid.UUID
    amount: Money
    reward_kind: str
    livemode: bool
    recipient_email: str | None
    recipient_name: str | None
    locale: str | None
    sku: str | None = None
    """The catalog item the learner chose (a provider's product id), when there was a choice."""


@dataclass(frozen=True, slots=True)
class Issued:
    reference: str
    """The provider's id for the order."""
    details: dict[str, Any] = field(default_factory=dict)
    """What the learner receives: code, PIN, URL, expiry (provider-specific)."""


class ProviderError(Exception):
    provider: str | None = None
    """Which provider failed, when the error passed through routing."""


class TransientProviderError(ProviderError):
    """Worth retrying later: timeouts, 5xx, 429."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, unsent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.unsent = unsent
        """The request never reached the provider (connection refused): certainly no order."""


class PermanentProviderError(ProviderError):
    """Retrying will not help: the order itself is refused."""


class Provider(Protocol):
    name: str

    def issue(self, order: IssueOrder) -> Issued: ...

    def lookup(self, idempotency_key: str) -> Issued | None: ...


class CurrencyProvider(Provider, Protocol):
    """A provider that can pay a reward in a currency other than the program's.

    ``pays_in`` answers from configuration only (no call out): the worker asks it for every
    converted reward it claims. A provider without it pays in the program's currency.
    """

    def pays_in(self, reward_kind: str, currency: str) -> bool: ...


def pays_in(provider: Provider, reward_kind: str, currency: str) -> bool:
    check = getattr(provider, "pays_in", None)
    return bool(check(reward_kind, currency)) if check is not None else False


@dataclass(frozen=True, slots=True)
class CatalogOffer:
    """One item a provider can issue, as its catalog describes it (synced into Laurel's catalog)."""

    provider: str
    sku: str
    """The provider's id for the item (Tango ``utid``, Tremendous product id, inventory brand)."""
    brand: str
    kind: str
    """``gift_card``, ``prepaid_card``, ``merchandise`` or ``charity``."""
    currency: str
    countries: tuple[str, ...]
    """ISO 3166-1 alpha-2 codes where the item can be used; empty means everywhere."""
    fixed_values_minor: tuple[int, ...] = ()
    min_minor: int | None = None
    max_minor: int | None = None
    image_url: str | None = None


class CatalogProvider(Provider, Protocol):
    """A provider that can say what it sells; ``laurel catalog sync`` asks it."""

    def catalog(self) -> list[CatalogOffer]: ...


@dataclass(frozen=True, slots=True)
class Balance:
    """What a provider account can still pay out (a funding balance, or codes in stock)."""

    account: str
    available: Money


class BalanceProvider(Provider, Protocol):
    def balance(self) -> list[Balance]: ...


class ProviderRegistry:
    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}

    def add(self, provider: Provider) -> None:
        self._providers[provider.name] = provider

    def get(self, name: str) -> Provider:
        try:
            return self._providers[name]
        except KeyError:
            raise PermanentProviderError(f"no provider named {name!r} is configured") from None

    def names(self) -> list[str]:
        return sorted(self._providers)

    def find(self, name: str) -> Provider | None:
        return self._providers.get(name)
