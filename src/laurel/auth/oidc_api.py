"""SSO routes: an organization's OpenID Connect configuration, and the browser flow."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from laurel.auth import oidc
from laurel.auth.models import OidcProvider
from laurel.auth.pages import safe_next
from laurel.auth.users_api import policy, set_session_cookies
from laurel.config import Settings
from laurel.events.connectors.secretbox import SecretBox
from laurel.kit.http import (
    LEARNER_COOKIE,
    Admin,
    DatabaseDep,
    LiveAdmin,
    errors,
    read_only,
    unit_of_work,
)
from laurel.portal.service import SSO_MARK as LEARNER_MARK

router = APIRouter(tags=["single sign-on"])


class OidcConfigIn(BaseModel):
    issuer: str = Field(max_length=500, examples=["https://acme.okta.com"])
    client_id: str = Field(min_length=1, max_length=300)
    client_secret: str = Field(min_length=1, max_length=1000)
    role_claim: str = Field(default="groups", min_length=1, max_length=100)
    role_mapping: dict[str, str] = Field(
        description="Claim value -> Laurel role", examples=[{"Laurel Admins": "org_admin"}]
    )
    department_claim: str | None = Field(default=None, max_length=100)
    create_users: bool = True


class OidcConfigOut(BaseModel):
    id: uuid.UUID
    issuer: str
    client_id: str
    redirect_uri: str
    role_claim: str
    role_mapping: dict[str, str]
    department_claim: str | None
    create_users: bool


def sso_settings(settings: Settings) -> oidc.SsoSettings:
    return oidc.SsoSettings(
        public_url=settings.public_url, box=SecretBox(settings.secret_key), policy=policy(settings)
    )


def _out(row: OidcProvider, settings: Settings) -> OidcConfigOut:
    return OidcConfigOut(
        id=row.id,
        issuer=row.issuer,
        client_id=row.client_id,
        redirect_uri=sso_settings(settings).redirect_uri,
        role_claim=row.role_claim,
        role_mapping=dict(row.role_mapping),
        department_claim=row.department_claim,
        create_users=row.create_users,
    )


@router.get(
    "/api/v1/auth/oidc",
    response_model=OidcConfigOut,
    responses=errors(401, 403, 404),
    summary="The organization's single sign-on configuration (never the client secret)",
)
def get_oidc(request: Request, actor: Admin, db: DatabaseDep) -> OidcConfigOut:
    with read_only(db) as session:
        return _out(oidc.provider_of(session, actor.organization_id), request.app.state.settings)


@router.put(
    "/api/v1/auth/oidc",
    response_model=OidcConfigOut,
    responses=errors(401, 403, 422),
    summary="Configure single sign-on through OpenID Connect",
)
def put_oidc(
    body: OidcConfigIn, request: Request, actor: LiveAdmin, db: DatabaseDep
) -> OidcConfigOut:
    settings: Settings = request.app.state.settings
    with unit_of_work(db) as session:
        row = oidc.configure(
            session,
            organization_id=actor.organization_id,
            issuer=body.issuer,
            client_id=body.client_id,
            client_secret=body.client_secret,
            role_claim=body.role_claim,
            role_mapping=body.role_mapping,
            department_claim=body.department_claim,
            create_users=body.create_users,
            box=SecretBox(settings.secret_key),
            actor=actor.name,
        )
        return _out(row, settings)


@router.get(
    "/auth/oidc/{organization}/start",
    status_code=status.HTTP_302_FOUND,
    responses={302: {"description": "To the identity provider"}, **errors(401, 404)},
    summary="Start signing in through the organization's identity provider",
)
def start_oidc(organization: str, request: Request, db: DatabaseDep, next: str = "/") -> Response:
    settings: Settings = request.app.state.settings
    with read_only(db) as session:
        issuer = oidc.issuer_of(session, organization)
    oidc.discover(issuer)  # the network, before any transaction; cached for begin()
    with unit_of_work(db) as session:
        url = oidc.begin(
            session,
            organization=organization,
            redirect_to=safe_next(next),
            settings=sso_settings(settings),
        )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.get(
    "/auth/oidc/callback",
    status_code=status.HTTP_303_SEE_OTHER,
    responses={303: {"description": "Signed in: to the page asked for"}, **errors(401)},
    summary="Where the identity provider sends the browser back",
)
def oidc_callback(
    request: Request,
    db: DatabaseDep,
    state: str = "",
    code: str = "",
    error: str | None = None,
) -> Response:
    settings: Settings = request.app.state.settings
    sso = sso_settings(settings)
    # The attempt is used up (committed) before the code is tried: a replay finds it spent.
    with unit_of_work(db) as session:
        pending = oidc.claim(session, state)
    if error is not None:
        raise oidc.SsoFailed(f"the identity provider answered {error}")
    claims = oidc.exchange(pending, code, sso)
    if pending.redirect_to.startswith(LEARNER_MARK):
        return _learner_signed_in(request, db, pending, claims)
    with unit_of_work(db) as session:
        new = oidc.sign_in(session, pending, claims, sso)
    response = RedirectResponse(pending.redirect_to, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookies(response, settings, new)
    return response


def _learner_signed_in(
    request: Request, db: DatabaseDep, pending: oidc.Pending, claims: dict[str, Any]
) -> Response:
    from laurel.portal import pages as portal_pages  # noqa: PLC0415 - the portal imports us
    from laurel.portal import service as portal  # noqa: PLC0415

    settings: Settings = request.app.state.settings
    try:
        with unit_of_work(db) as session:
            new = portal.sign_in_sso(
                session,
                pending.organization_id,
                claims,
                portal_pages.policy(settings),
                replaces=request.cookies.get(LEARNER_COOKIE),
            )
            slug = portal.organization_slug(session, new.organization_id)
    except portal.InvalidLink as exc:
        raise oidc.SsoFailed(str(exc.detail)) from exc
    target = safe_next(pending.redirect_to.removeprefix(LEARNER_MARK))
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    portal_pages.set_learner_cookies(response, settings, new, slug)
    return response
