"""Badge awards as Open Badges 3.0 credentials a learner can carry elsewhere.

An award becomes an ``OpenBadgeCredential`` (JSON-LD, W3C Verifiable Credentials data model)
secured as a VC-JWT (Open Badges 3.0 §8.2, "JSON Web Token Proof Format"): a compact JWS whose
payload is the credential itself, with the registered claims ``iss``, ``jti``, ``nbf`` and
``sub`` mapped from it, signed with EdDSA (Ed25519). The JOSE header names the key (``kid``)
and carries the public key (``jwk``); the issuer's key set is also published unauthenticated
(``GET /api/v1/points/issuers/{organization_id}/jwks``) so anyone can verify offline.

The signing key is ``LAUREL_POINTS_BADGE_SIGNING_KEY`` (an Ed25519 private key: PEM, or the
32-byte seed in base64url). Without it, a key is derived from ``LAUREL_SECRET_KEY`` (HKDF), so
development works out of the box; production deployments set their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from laurel.points.models import Badge, BadgeAward

CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]


class VerificationError(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(configured: str | None, secret_key: str) -> Ed25519PrivateKey:
    """The configured Ed25519 key (PEM or base64url seed), or one derived from the secret."""
    if configured:
        text = configured.strip()
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("LAUREL_POINTS_BADGE_SIGNING_KEY is not an Ed25519 key")
            return key
        seed = _unb64(text)
        if len(seed) != 32:
            raise ValueError("LAUREL_POINTS_BADGE_SIGNING_KEY: an Ed25519 seed is 32 bytes")
        return Ed25519PrivateKey.from_private_bytes(seed)
    seed = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"laurel", info=b"points badge signing key"
    ).derive(secret_key.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_jwk(key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64(raw),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }


def key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise VerificationError("only Ed25519 (OKP) keys are accepted")
    return Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"]))


@dataclass(frozen=True, slots=True)
class Issuer:
    id: str
    """The issuer profile's URL."""
    name: str
    url: str | None = None

    @property
    def kid(self) -> str:
        return f"{self.id}#key-1"


def identity_hash(email: str, salt: str) -> str:
    """Open Badges' hashed recipient identity: ``sha256$`` + hex(sha256(email + salt))."""
    return "sha256$" + hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest()


def credential(
    award: BadgeAward,
    badge: Badge,
    issuer: Issuer,
    *,
    base_url: str,
    recipient_email: str | None,
    recipient_name: str | None,
) -> dict[str, Any]:
    """The award as an OpenBadgeCredential (unsigned)."""
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "achievement": {
            "id": f"{base_url}/api/v1/points/badges/{badge.id}",
            "type": ["Achievement"],
            "name": badge.name,
            "description": badge.description or badge.name,
            "criteria": {"narrative": _narrative(badge.criteria)},
        },
    }
    if badge.image_url:
        subject["achievement"]["image"] = {"id": badge.image_url, "type": "Image"}
    if recipient_email:
        salt = secrets.token_hex(8)
        subject["identifier"] = [
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": True,
                "identityHash": identity_hash(recipient_email, salt),
                "salt": salt,
            }
        ]
    if recipient_name:
        subject["name"] = recipient_name
    issuer_profile: dict[str, Any] = {"id": issuer.id, "type": ["Profile"], "name": issuer.name}
    if issuer.url:
        issuer_profile["url"] = issuer.url
    return {
        "@context": CONTEXT,
        "id": f"urn:uuid:{award.id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": issuer_profile,
        "validFrom": _iso(award.awarded_at),
        "name": badge.name,
        "credentialSubject": subject,
        "evidence": [
            {
                "type": ["Evidence"],
                "narrative": "Completed: " + ", ".join(award.evidence.get("courses", [])),
            }
        ],
    }


def _narrative(criteria: dict[str, Any]) -> str:
    when = " in one calendar year" if criteria.get("period") == "year" else ""
    if criteria.get("kind") == "all_of_type":
        return f"Complete every {criteria['course_type']} course{when}."
    what = criteria.get("course_type") or "distinct"
    return f"Complete {criteria.get('count')} {what} courses{when}."


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sign(credential_: dict[str, Any], key: Ed25519PrivateKey, issuer: Issuer) -> str:
    """The credential as a VC-JWT (compact JWS, EdDSA)."""
    header = {
        "alg": "EdDSA",
        "typ": "JWT",
        "kid": issuer.kid,
        "jwk": {k: v for k, v in public_jwk(key.public_key(), issuer.kid).items() if k != "use"},
    }
    valid_from = datetime.fromisoformat(credential_["validFrom"].replace("Z", "+00:00"))
    claims = {
        **credential_,
        "iss": issuer.id,
        "jti": credential_["id"],
        "nbf": int(valid_from.timestamp()),
    }
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    )
    return signing_input + "." + _b64(key.sign(signing_input.encode()))


def verify(token: str, key: Ed25519PublicKey) -> dict[str, Any]:
    """Check a VC-JWT's signature and shape; answers the credential (its claims)."""
    try:
        head, body, signature = token.split(".")
        header = json.loads(_unb64(head))
        claims: dict[str, Any] = json.loads(_unb64(body))
    except ValueError as exc:
        raise VerificationError("not a compact JWS") from exc
    if header.get("alg") != "EdDSA":
        raise VerificationError(f"unexpected alg {header.get('alg')!r}")
    try:
        key.verify(_unb64(signature), f"{head}.{body}".encode())
    except InvalidSignature as exc:
        raise VerificationError("signature does not verify") from exc
    if "OpenBadgeCredential" not in claims.get("type", []):
        raise VerificationError("not an OpenBadgeCredential")
    if claims.get("iss") != claims.get("issuer", {}).get("id"):
        raise VerificationError("iss does not match the credential's issuer")
    if claims.get("jti") != claims.get("id"):
        raise VerificationError("jti does not match the credential's id")
    return claims
