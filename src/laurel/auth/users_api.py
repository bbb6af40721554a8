"""Sign-in, sign-out, password reset and user management over JSON."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from laurel.auth import users
from laurel.auth.mail import queue_reset
from laurel.auth.models import User
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.http import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Admin,
    DatabaseDep,
    LiveAdmin,
    SignedIn,
    errors,
    read_only,
    unit_of_work,
)
from laurel.learners import service as learners

router = APIRouter(tags=["sign-in and users"])


class SignInIn(BaseModel):
    organization: str = Field(max_length=64, examples=["acme"])
    email: str = Field(max_length=320)
    password: str = Field(max_length=users.MAX_PASSWORD)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    roles: list[str]
    departments: list[str]
    learner_id: uuid.UUID | None
    sso: bool
    locked_until: datetime | None
    last_sign_in_at: datetime | None
    disabled: bool
    created_at: datetime
    locale: str | None = None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            roles=list(user.roles),
            departments=list(user.departments),
            learner_id=user.learner_id,
            sso=user.sso_subject is not None,
            locked_until=user.locked_until,
            last_sign_in_at=user.last_sign_in_at,
            disabled=user.disabled_at is not None,
            locale=user.locale,
            created_at=user.created_at,
        )


class SignedInOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(
        description="Echo it in the X-CSRF-Token header of every POST/PUT/PATCH/DELETE"
    )
    expires_at: datetime


class MeOut(BaseModel):
    actor: str
    organization_id: uuid.UUID
    kind: str = Field(description="`user`, `learner` (a learner's own session) or `apikey`")
    roles: list[str]
    departments: list[str] | None
    learner_id: uuid.UUID | None
    scopes: list[str]
    livemode: bool


class ResetIn(BaseModel):
    organization: str = Field(max_length=64)
    email: str = Field(max_length=320)


class ResetConfirmIn(BaseModel):
    token: str = Field(max_length=200)
    password: str = Field(max_length=users.MAX_PASSWORD)


class UserCreate(BaseModel):
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    roles: list[str] = Field(min_length=1, examples=[["program_manager"]])
    departments: list[str] = Field(default_factory=list)
    learner_id: uuid.UUID | None = None
    password: str | None = Field(
        default=None,
        max_length=users.MAX_PASSWORD,
        description="Omit for users who sign in through SSO or set it by a reset link",
    )


class UserUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    roles: list[str] | None = None
    departments: list[str] | None = None
    learner_id: uuid.UUID | None = None
    password: str | None = Field(default=None, max_length=users.MAX_PASSWORD)
    disabled: bool | None = None
    locale: str | None = Field(
        default=None,
        max_length=35,
        description="Language of the operator emails this user receives (BCP 47, e.g. de, "
        'pt-BR); "" clears it: the organization\'s email language applies',
    )


def policy(settings: Settings) -> users.Policy:
    return users.Policy(
        session_lifetime=timedelta(hours=settings.session_hours),
        max_failures=settings.sign_in_max_failures,
        lockout=timedelta(minutes=settings.sign_in_lockout_minutes),
    )


def set_session_cookies(response: Response, settings: Settings, new: users.NewSession) -> None:
    secure = settings.environment is not Environment.development
    max_age = int(settings.session_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE, new.token, max_age=max_age, httponly=True, secure=secure, samesite="lax"
    )
    # Readable by the dashboard's scripts, which echo it in X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE, new.csrf_token, max_age=max_age, httponly=False, secure=secure, samesite="lax"
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)


def do_sign_in(
    db: Database, settings: Settings, body: SignInIn, current: str | None
) -> users.NewSession:
    """Commit the attempt (a failure counts towards lockout), then answer."""
    with unit_of_work(db) as session:
        outcome = users.sign_in(
            session,
            organization=body.organization,
            email=body.email,
            password=body.password,
            policy=policy(settings),
            replaces=current,
        )
    if outcome.session is None:
        raise outcome.error()
    return outcome.session


@router.post(
    "/api/v1/auth/sign-in",
    response_model=SignedInOut,
    responses={**errors(401, 422), 429: errors(429)[429] | {"description": "Account locked"}},
    summary="Sign in with a password: sets the session cookie",
)
def sign_in(body: SignInIn, request: Request, response: Response, db: DatabaseDep) -> SignedInOut:
    settings: Settings = request.app.state.settings
    new = do_sign_in(db, settings, body, request.cookies.get(SESSION_COOKIE))
    set_session_cookies(response, settings, new)
    return SignedInOut(
        user=UserOut.of(new.user), csrf_token=new.csrf_token, expires_at=new.expires_at
    )


@router.post(
    "/api/v1/auth/sign-out",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403),
    summary="End this session",
)
def sign_out(request: Request, actor: SignedIn, db: DatabaseDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with unit_of_work(db) as session:
            users.end_session(session, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response)
    return response


@router.get(
    "/api/v1/auth/me",
    response_model=MeOut,
    responses=errors(401),
    summary="Who the caller is: roles and data scope, or key scopes",
)
def me(actor: SignedIn) -> MeOut:
    return MeOut(
        actor=actor.name,
        organization_id=actor.organization_id,
        kind=actor.name.split(":", 1)[0]
        if actor.name.startswith(("user:", "learner:"))
        else "apikey",
        roles=sorted(actor.roles),
        departments=sorted(actor.departments) if actor.departments is not None else None,
        learner_id=actor.learner_id,
        scopes=sorted(actor.scopes),
        livemode=actor.livemode,
    )


@router.post(
    "/api/v1/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(422),
    summary="Mail a single-use reset link (the same answer whether or not the user exists)",
)
def request_password_reset(body: ResetIn, request: Request, db: DatabaseDep) -> Response:
    settings: Settings = request.app.state.settings
    with unit_of_work(db) as session:
        found = users.request_reset(
            session,
            organization=body.organization,
            email=body.email,
            lifetime=timedelta(minutes=settings.password_reset_minutes),
        )
        if found is not None:
            # In the token's transaction: the worker sends it once both are committed.
            queue_reset(session, settings, found, request.headers.get("accept-language"))
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/api/v1/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(400, 422),
    summary="Set a new password with a reset link's token",
)
def confirm_password_reset(body: ResetConfirmIn, db: DatabaseDep) -> Response:
    with unit_of_work(db) as session:
        users.confirm_reset(session, token=body.token, password=body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- managing users


@router.get(
    "/api/v1/users",
    response_model=list[UserOut],
    responses=errors(401, 403),
    summary="List the organization's users",
)
def list_users(actor: Admin, db: DatabaseDep) -> list[UserOut]:
    with read_only(db) as session:
        return [UserOut.of(u) for u in users.list_users(session, actor.organization_id)]


@router.post(
    "/api/v1/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=errors(401, 403, 409, 422),
    summary="Create a user",
)
def create_user(body: UserCreate, actor: LiveAdmin, db: DatabaseDep) -> UserOut:
    with unit_of_work(db) as session:
        return UserOut.of(
            users.create(
                session,
                organization_id=actor.organization_id,
                email=body.email,
                name=body.name,
                roles=body.roles,
                departments=body.departments,
                learner_id=_own_learner(session, actor, body.learner_id),
                password=body.password,
                actor=actor.name,
            )
        )


def _own_learner(session: Session, actor: Actor, learner_id: uuid.UUID | None) -> uuid.UUID | None:
    """A user may be linked only to a learner of its own organization (404 otherwise)."""
    if learner_id is None:
        return None
    return learners.get(session, actor, learner_id).id


@router.get(
    "/api/v1/users/{user_id}",
    response_model=UserOut,
    responses=errors(401, 403, 404),
    summary="Get a user",
)
def get_user(user_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> UserOut:
    with read_only(db) as session:
        return UserOut.of(users.get(session, actor.organization_id, user_id))


@router.patch(
    "/api/v1/users/{user_id}",
    response_model=UserOut,
    responses=errors(401, 403, 404, 422),
    summary="Change a user's roles, departments, password or state",
)
def update_user(user_id: uuid.UUID, body: UserUpdate, actor: LiveAdmin, db: DatabaseDep) -> UserOut:
    with unit_of_work(db) as session:
        return UserOut.of(
            users.update_user(
                session,
                actor.organization_id,
                user_id,
                actor=actor.name,
                name=body.name,
                roles=body.roles,
                departments=body.departments,
                learner_id=_own_learner(session, actor, body.learner_id),
                password=body.password,
                disabled=body.disabled,
                locale=body.locale,
            )
        )


@router.delete(
    "/api/v1/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
    summary="Delete a user",
)
def delete_user(user_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep) -> Response:
    with unit_of_work(db) as session:
        users.delete(session, actor.organization_id, user_id, actor.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
