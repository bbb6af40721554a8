"""Delivered codes, PINs and redemption URLs, encrypted at rest with the key ring.

What a provider hands over is split when it is stored: the secret values (:data:`FIELDS`) go,
as one JSON object, into ``deliveries.secrets_sealed`` under :data:`SEALED` (so
``laurel keys rotate`` re-encrypts them); ``deliveries.details`` keeps everything else and the
secrets masked to their last characters, which is all a read-only key, a report or a database
dump ever sees. :func:`opened` puts the values back for the paths that show them (an admin
key's ``GET /rewards/{id}``, the link page just after redemption, the learner's email), each of
which audits or is the learner's own.
"""

from __future__ import annotations

import json
from typing import Any

from laurel.delivery.models import SEALED
from laurel.kit.crypto import KeyRing

FIELDS = ("code", "pin", "url")
__all__ = ["FIELDS", "SEALED", "mask", "opened", "seal", "secret_values"]


SHOWN = 4
"""Trailing characters left visible of a long code or URL (to tell codes apart)."""


def mask(value: str) -> str:
    """All but the last characters hidden; a short value (a PIN) is hidden whole."""
    shown = SHOWN if len(value) >= 3 * SHOWN else 0
    return "•" * (len(value) - shown) + value[len(value) - shown :]


def secret_values(details: dict[str, Any]) -> dict[str, str]:
    return {n: v for n in FIELDS if isinstance(v := details.get(n), str) and v}


def seal(details: dict[str, Any], ring: KeyRing) -> tuple[dict[str, Any], str | None]:
    """(details with the secrets masked, the secrets encrypted or None if there are none)."""
    secret = secret_values(details)
    if not secret:
        return dict(details), None
    public = dict(details) | {n: mask(v) for n, v in secret.items()}
    return public, ring.encrypt(json.dumps(secret, sort_keys=True), SEALED.context)


def opened(details: dict[str, Any], sealed: str | None, ring: KeyRing) -> dict[str, Any]:
    """The details as the provider gave them, secrets decrypted."""
    if not sealed:
        return dict(details)
    values = json.loads(ring.decrypt(sealed, SEALED.context))
    return dict(details) | {k: v for k, v in values.items() if k in FIELDS}
