"""Single sign-on through OpenID Connect, configured per organization.

Authorization code flow with PKCE (S256), ``state`` and ``nonce`` (authlib builds the request
and exchanges the code). The ID token's signature is verified against the issuer's JWKS
(found through its discovery document) with joserfc, and its ``iss``, ``aud``, ``exp``, ``iat``
and ``nonce`` are checked. Roles come from one claim (``groups`` by default) through the
organization's mapping; the identity provider is the truth: each sign-in sets the user's roles.

The flow's state lives in ``oidc_logins`` (state hashed, used once, ten minutes). Network calls
(discovery, token, JWKS) happen outside any database transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.auth import users
from laurel.auth.models import OidcLogin, OidcProvider, User
from laurel.auth.permissions import ALL_ROLES, Role
from laurel.events.connectors.secretbox import SecretBox
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, NotFound, field_error
from laurel.organizations import service as organizations

LOGIN_LIFETIME = timedelta(minutes=10)
CACHE_SECONDS = 300.0
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
CLOCK_LEEWAY = 60


class SsoFailed(AppError):
    status = 401
    code = "sso_failed"


class SsoNotConfigured(NotFound):
    code = "sso_not_configured"


@dataclass(frozen=True, slots=True)
class SsoSettings:
    """What the SSO flow needs from the application settings."""

    public_url: str
    box: SecretBox
    policy: users.Policy

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/oidc/callback"


@dataclass(frozen=True, slots=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cached(key: str, load: Any, *, fresh: bool = False) -> Any:
    now = time.monotonic()
    with _cache_lock:
        found = _cache.get(key)
    if found is not None and found[0] > now and not fresh:
        return found[1]
    value = load()
    with _cache_lock:
        _cache[key] = (now + CACHE_SECONDS, value)
    return value


def discover(issuer: str) -> Discovery:
    def load() -> Discovery:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=10)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoFailed(f"the identity provider's discovery document failed: {exc}") from exc
        if doc.get("issuer") != issuer:
            raise SsoFailed(f"the discovery document names issuer {doc.get('issuer')!r}")
        try:
            return Discovery(
                issuer=doc["issuer"],
                authorization_endpoint=doc["authorization_endpoint"],
                token_endpoint=doc["token_endpoint"],
                jwks_uri=doc["jwks_uri"],
            )
        except KeyError as exc:
            raise SsoFailed(f"the discovery document lacks {exc.args[0]}") from exc

    found: Discovery = _cached(f"discovery:{issuer}", load)
    return found


def _jwks(uri: str, *, fresh: bool = False) -> KeySet:
    def load() -> KeySet:
        try:
            response = httpx.get(uri, timeout=10)
            response.raise_for_status()
            return KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise SsoFailed(f"the identity provider's keys (JWKS) failed: {exc}") from exc

    keys: KeySet = _cached(f"jwks:{uri}", load, fresh=fresh)
    return keys


# ---------------------------------------------------------------- configuration


def configure(
    session: Session,
    *,
    organization_id: uuid.UUID,
    issuer: str,
    client_id: str,
    client_secret: str,
    role_claim: str,
    role_mapping: dict[str, str],
    department_claim: str | None,
    create_users: bool,
    box: SecretBox,
    actor: str,
) -> OidcProvider:
    if not issuer.startswith(("https://", "http://")):
        raise field_error("issuer", "give the issuer URL (https://...)")
    bad = sorted({r for r in role_mapping.values() if r not in ALL_ROLES})
    if bad:
        raise field_error(
            "role_mapping", f"unknown role(s) {', '.join(bad)}; use {', '.join(sorted(ALL_ROLES))}"
        )
    row = session.scalar(
        select(OidcProvider).where(OidcProvider.organization_id == organization_id)
    )
    if row is None:
        row = OidcProvider(organization_id=organization_id)
        session.add(row)
    row.issuer = issuer
    row.client_id = client_id
    row.client_secret_sealed = box.seal(client_secret)
    row.role_claim = role_claim
    row.role_mapping = dict(role_mapping)
    row.department_claim = department_claim
    row.create_users = create_users
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="auth:oidc:configure",
        target_type="oidc_provider",
        target_id=row.id,
        details={
            "issuer": issuer,
            "client_id": client_id,
            "role_claim": role_claim,
            "role_mapping": role_mapping,
            "department_claim": department_claim,
        },
    )
    return row


def provider_of(session: Session, organization_id: uuid.UUID) -> OidcProvider:
    row = session.scalar(
        select(OidcProvider).where(OidcProvider.organization_id == organization_id)
    )
    if row is None:
        raise SsoNotConfigured("single sign-on is not configured for this organization")
    return row


def _client(provider: OidcProvider, settings: SsoSettings) -> OAuth2Client:
    secret = settings.box.open(provider.client_secret_sealed)
    if secret is None:
        raise SsoFailed("the SSO client secret no longer decrypts: configure it again")
    return OAuth2Client(
        provider.client_id,
        secret,
        scope="openid email profile",
        redirect_uri=settings.redirect_uri,
        code_challenge_method="S256",
        timeout=10,
    )


# ---------------------------------------------------------------- the flow


@dataclass(frozen=True, slots=True)
class Pending:
    organization_id: uuid.UUID
    issuer: str
    client_id: str
    secret_sealed: str
    nonce: str
    code_verifier: str
    redirect_to: str


def issuer_of(session: Session, organization: str) -> str:
    return provider_of(session, organizations.get_by_slug(session, organization).id).issuer


def begin(session: Session, *, organization: str, redirect_to: str, settings: SsoSettings) -> str:
    """Record a login in progress; the URL to send the browser to. Call ``discover`` for the
    issuer first, outside the transaction: here it is then answered from the cache."""
    org = organizations.get_by_slug(session, organization)
    provider = provider_of(session, org.id)
    found = discover(provider.issuer)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)
    session.add(
        OidcLogin(
            organization_id=org.id,
            state_hash=_digest(state),
            nonce=nonce,
            code_verifier=verifier,
            redirect_to=redirect_to,
            expires_at=utcnow() + LOGIN_LIFETIME,
        )
    )
    with _client(provider, settings) as client:
        url, _ = client.create_authorization_url(
            found.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
        )
    return str(url)


def claim(session: Session, state: str) -> Pending:
    """Use up the login a callback's ``state`` names: once, within its lifetime."""
    now = utcnow()
    login = session.scalar(select(OidcLogin).where(OidcLogin.state_hash == _digest(state)))
    if login is None or login.used_at is not None or login.expires_at <= now:
        raise SsoFailed("unknown, used or expired sign-in attempt: start again")
    taken = session.execute(
        update(OidcLogin)
        .where(OidcLogin.id == login.id, OidcLogin.used_at.is_(None))
        .values(used_at=now)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise SsoFailed("this sign-in attempt was already used: start again")
    provider = provider_of(session, login.organization_id)
    return Pending(
        organization_id=login.organization_id,
        issuer=provider.issuer,
        client_id=provider.client_id,
        secret_sealed=provider.client_secret_sealed,
        nonce=login.nonce,
        code_verifier=login.code_verifier,
        redirect_to=login.redirect_to,
    )


def exchange(pending: Pending, code: str, settings: SsoSettings) -> dict[str, Any]:
    """Trade the code for tokens (with the PKCE verifier) and verify the ID token: its claims."""
    found = discover(pending.issuer)
    secret = settings.box.open(pending.secret_sealed)
    if secret is None:
        raise SsoFailed("the SSO client secret no longer decrypts: configure it again")
    client = OAuth2Client(
        pending.client_id,
        secret,
        redirect_uri=settings.redirect_uri,
        code_challenge_method="S256",
        timeout=10,
    )
    try:
        with client:
            token = client.fetch_token(
                found.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
            )
    except Exception as exc:  # authlib raises its own OAuth errors and httpx's
        raise SsoFailed(f"the identity provider refused the code: {exc}") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoFailed("the identity provider sent no ID token")
    return verify_id_token(
        id_token,
        issuer=found.issuer,
        client_id=pending.client_id,
        nonce=pending.nonce,
        jwks_uri=found.jwks_uri,
    )


def verify_id_token(
    id_token: str, *, issuer: str, client_id: str, nonce: str, jwks_uri: str
) -> dict[str, Any]:
    keys = _jwks(jwks_uri)
    try:
        try:
            decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        except (ValueError, JoseError):
            # The provider may have rotated its keys since they were cached.
            decoded = jwt.decode(id_token, _jwks(jwks_uri, fresh=True), algorithms=ALGORITHMS)
        claims: dict[str, Any] = dict(decoded.claims)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except (ValueError, JoseError) as exc:
        raise SsoFailed(f"the ID token was refused: {exc}") from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SsoFailed("the ID token was issued to another client (azp)")
    return claims


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def sign_in(
    session: Session, pending: Pending, claims: dict[str, Any], settings: SsoSettings
) -> users.NewSession:
    """Find or create the user the verified claims name, with the roles they map to."""
    provider = provider_of(session, pending.organization_id)
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is False:
        raise SsoFailed("the identity provider sent no verified email for this user")
    roles = sorted(
        {
            provider.role_mapping[value]
            for value in _strings(claims.get(provider.role_claim))
            if value in provider.role_mapping
        }
    )
    departments = (
        sorted(set(_strings(claims.get(provider.department_claim))))
        if provider.department_claim
        else []
    )
    subject = f"{claims['iss']}|{claims['sub']}"
    user = session.scalar(
        select(User).where(
            User.organization_id == pending.organization_id, User.sso_subject == subject
        )
    ) or session.scalar(
        select(User).where(
            User.organization_id == pending.organization_id, User.email == email.lower()
        )
    )
    if not roles:
        raise SsoFailed(
            f"your identity provider grants no Laurel role (claim {provider.role_claim!r})"
        )
    if user is None:
        if not provider.create_users:
            raise SsoFailed("no Laurel user has this email; ask an administrator")
        user = users.create(
            session,
            organization_id=pending.organization_id,
            email=email,
            name=str(claims.get("name") or ""),
            roles=roles,
            departments=departments,
            actor="sso",
        )
    if user.disabled_at is not None:
        raise SsoFailed("this user is disabled")
    if sorted(user.roles) != roles or (
        Role.department_manager in roles and sorted(user.departments) != departments
    ):
        audit.record(
            session,
            organization_id=user.organization_id,
            actor="sso",
            action="auth:user:roles_from_sso",
            target_type="user",
            target_id=user.id,
            details={"roles": roles, "departments": departments},
        )
        user.roles = roles
        if Role.department_manager in roles:
            user.departments = departments
    user.sso_subject = subject
    return users.start_session(session, user, method="oidc", policy=settings.policy)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
