"""Issuing along a route of providers, failing over without ever paying twice.

A route is an ordered list of providers. With one provider nothing changes: the worker calls it
as before. With more, every provider is recorded as *attempted* (committed) before it is sent
the order, and:

- a later attempt (a retry, another worker after a crash) first asks every provider already
  attempted whether it issued (``lookup``); one that did settles the reward;
- a provider that is down (a transient error: timeout, 5xx, 429, out of funds) is asked at once
  whether it issued after all; only a clear "no" moves on to the next provider. When it cannot
  even be asked, the reward is retried later with the same provider, never sent elsewhere. A
  provider that refused the connection never got the request: its attempt is forgotten and the
  next provider is tried at once;
- a refused order (permanent error) fails the reward: another provider would refuse it too, or
  it is a configuration problem a person must see.

The idempotency key (the reward id) is the same for every provider, so a replay to any of them
returns that provider's first order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from laurel.db import Database
from laurel.delivery import routing
from laurel.delivery.providers import (
    Issued,
    IssueOrder,
    PermanentProviderError,
    Provider,
    ProviderError,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.delivery.service import Claim

log = logging.getLogger("laurel.routing")


@dataclass(frozen=True, slots=True)
class Outcome:
    provider: str
    issued: Issued


class Router:
    def __init__(self, database: Database, providers: ProviderRegistry) -> None:
        self.database = database
        self.providers = providers

    def issue(self, claim: Claim) -> Outcome:
        """Issue through the claim's route; errors carry the provider they came from."""
        route = claim.route or (claim.provider,)
        if len(route) == 1:
            return Outcome(route[0], self._call(route[0], claim))
        found = self.lookup(claim, route)
        if found is not None:
            return found
        for n, name in enumerate(route):
            try:
                provider = self.providers.get(name)
            except PermanentProviderError:
                log.warning("route of reward %s names unconfigured %s", claim.reward_id, name)
                continue
            with self.database.session() as session:
                routing.note_attempt(session, claim.order.organization_id, claim.reward_id, name)
            try:
                return Outcome(name, _tagged(name, provider.issue, claim))
            except TransientProviderError as exc:
                issued = self._settle(name, provider, claim, exc)
                if issued is not None:
                    return Outcome(name, issued)
                if n == len(route) - 1:
                    raise
                log.warning(
                    "reward %s: %s is down (%s) and has no order; failing over to %s",
                    claim.reward_id,
                    name,
                    exc,
                    route[n + 1],
                )
        raise PermanentProviderError(f"no provider of the route {list(route)} is configured")

    def lookup(self, claim: Claim, route: tuple[str, ...] | None = None) -> Outcome | None:
        """Whether any provider the order may have reached issued it. Raises
        :class:`TransientProviderError` when one of them cannot be asked (so nothing else is
        tried until it can)."""
        route = route or claim.route or (claim.provider,)
        with self.database.read_session() as session:
            names = routing.attempted(session, claim.reward_id)
        # A one-provider route records no attempts: that provider is always asked.
        if len(route) == 1 and route[0] not in names:
            names.append(route[0])
        for name in names:
            try:
                provider = self.providers.get(name)
                issued = provider.lookup(claim.order.idempotency_key)
            except ProviderError as exc:
                exc.provider = name
                raise TransientProviderError(
                    f"{name} cannot say whether it issued: {exc}",
                    getattr(exc, "retry_after", None),
                ) from exc
            if issued is not None:
                return Outcome(name, issued)
        return None

    def _call(self, name: str, claim: Claim) -> Issued:
        return _tagged(name, self.providers.get(name).issue, claim)

    def _settle(
        self, name: str, provider: Provider, claim: Claim, error: TransientProviderError
    ) -> Issued | None:
        """After a transient error: the order if ``name`` has it after all, None if it
        certainly has not. Raises ``error`` when that cannot be known (stay, retry later)."""
        if error.unsent:
            with self.database.session() as session:
                routing.forget_attempt(session, claim.reward_id, name)
            return None
        try:
            return provider.lookup(claim.order.idempotency_key)
        except ProviderError:
            error.provider = name
            raise error from None


def _tagged(name: str, call: Callable[[IssueOrder], Issued], claim: Claim) -> Issued:
    try:
        return call(claim.order)
    except ProviderError as exc:
        exc.provider = name
        raise
