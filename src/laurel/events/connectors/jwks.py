"""Public signing keys (JWKS) fetched from a source's URL and cached per process.

Canvas signs Live Events with RS256 keys it publishes as a JWKS and rotates monthly (the set
holds the previous, current and next key). Laurel fetches the set an organization configured,
keeps it until it expires (the answer's ``Cache-Control: max-age``, within bounds, else an
hour), and fetches it again early when a token names a ``kid`` the cached set lacks — at most
once per ``refetch_after`` seconds per URL, so a sender cycling unknown ``kid`` values cannot
make Laurel hammer the source. When a refetch fails, a set still held keeps verifying: keys
are published ahead of use, so an outage of the JWKS endpoint need not stop intake.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from laurel.kit.errors import AppError

_MAX_AGE = re.compile(r"max-age=(\d+)")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class JwksUnavailable(AppError):
    """The configured JWKS cannot be had: the sender should retry later (Canvas does)."""

    status = 503
    code = "jwks_unavailable"


def url_problem(url: object) -> str | None:
    """Why a configured JWKS URL is refused: HTTPS only, plain HTTP for loopback hosts."""
    if not isinstance(url, str) or not url:
        return "give the JWKS URL as a string"
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return None
    return "the JWKS URL must be https:// (plain http only for a loopback host)"


@dataclass(frozen=True, slots=True)
class Fetched:
    keys: KeySet
    kids: frozenset[str]
    fetched_at: float
    expires_at: float


class JwksCache:
    """Key sets by URL. Thread-safe: one fetch per URL at a time, others wait for it."""

    def __init__(
        self,
        *,
        default_ttl: float = 3600,
        min_ttl: float = 60,
        max_ttl: float = 86_400,
        refetch_after: float = 30,
        timeout: float = 5,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.default_ttl = default_ttl
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.refetch_after = refetch_after
        self.timeout = timeout
        self.clock = clock
        self.transport = transport
        self.fetches = 0
        """How many times a set was fetched (tests and metrics read it)."""
        self._entries: dict[str, Fetched] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
            self.fetches = 0

    def _lock(self, url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(url, threading.Lock())

    def key_set(self, url: str, kid: str | None) -> Fetched:
        """The set for ``url``, fetched when missing, expired, or lacking ``kid``."""
        with self._lock(url):
            entry = self._entries.get(url)
            now = self.clock()
            stale = entry is None or now >= entry.expires_at
            unknown = (
                entry is not None
                and kid is not None
                and kid not in entry.kids
                and now - entry.fetched_at >= self.refetch_after
            )
            if not (stale or unknown):
                assert entry is not None
                return entry
            try:
                entry = self._fetch(url)
            except JwksUnavailable:
                if entry is None:
                    raise
                return entry
            self._entries[url] = entry
            return entry

    def _fetch(self, url: str) -> Fetched:
        self.fetches += 1
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"the JWKS at {url} could not be fetched: {exc}") from exc
        if response.status_code != 200:
            raise JwksUnavailable(f"the JWKS at {url} answered {response.status_code}")
        try:
            document: Any = response.json()
        except ValueError as exc:
            raise JwksUnavailable(f"the JWKS at {url} is not JSON") from exc
        raw = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(raw, list):
            raise JwksUnavailable(f"the JWKS at {url} has no keys array")
        # Only RSA signing keys matter here; an unknown key type must not spoil the set.
        usable = [k for k in raw if isinstance(k, dict) and k.get("kty") == "RSA"]
        try:
            keys = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError) as exc:
            raise JwksUnavailable(f"the JWKS at {url} holds an unreadable key: {exc}") from exc
        now = self.clock()
        return Fetched(
            keys,
            frozenset(str(k["kid"]) for k in usable if "kid" in k),
            now,
            now + self._ttl(response.headers.get("cache-control", "")),
        )

    def _ttl(self, cache_control: str) -> float:
        found = _MAX_AGE.search(cache_control)
        if found is None:
            return self.default_ttl
        return max(self.min_ttl, min(self.max_ttl, float(found.group(1))))


CACHE = JwksCache()
"""The process's cache; every organization's Canvas JWKS URL is a key in it."""
