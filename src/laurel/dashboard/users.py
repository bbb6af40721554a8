"""User management for org admins: list, invite (a set-password link through the email
outbox), roles and departments, deactivate / reactivate, a new set-password link.

Every change goes through ``auth.users`` / ``auth.invites`` as the users API does; the page only
translates the form and shows refusals beside the fields they are about.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from laurel.auth import invites, users
from laurel.auth.permissions import ALL_ROLES
from laurel.config import Settings
from laurel.dashboard import forms
from laurel.dashboard.render import brand_of, message_of, page
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict, field_error
from laurel.kit.http import DatabaseDep, LiveAdmin, read_only, unit_of_work

router = APIRouter()
ROLES = sorted(ALL_ROLES)
MULTI = ("roles",)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    *,
    invite: forms.Values | None = None,
    invite_errors: forms.Errors | None = None,
    editing: uuid.UUID | None = None,
    edit_values: forms.Values | None = None,
    edit_errors: forms.Errors | None = None,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with read_only(db) as session:
        found = users.list_users(session, actor.organization_id)
        rows: list[dict[str, Any]] = []
        for user in found:
            mine = user.id == editing and edit_values is not None
            rows.append(
                {
                    "user": user,
                    "values": edit_values
                    if mine
                    else {
                        "name": user.name,
                        "roles": list(user.roles),
                        "departments": ", ".join(user.departments),
                    },
                    "errors": (edit_errors or {}) if mine else {},
                    "invited": user.password_hash is None and user.sso_subject is None,
                    "locked": user.locked_until is not None and user.locked_until > utcnow(),
                    "me": actor.name == f"user:{user.id}",
                }
            )
        return page(
            request,
            actor,
            "users.html",
            brand=brand_of(session, actor.organization_id),
            status_code=status_code,
            rows=rows,
            roles=ROLES,
            invite=invite or {"roles": []},
            invite_errors=invite_errors or {},
            notice=notice,
            error=error or (invite_errors or {}).get("") or (edit_errors or {}).get(""),
            days=invites.INVITE_DAYS,
        )


@router.get("/dashboard/users", response_class=HTMLResponse)
def users_page(request: Request, actor: LiveAdmin, db: DatabaseDep) -> HTMLResponse:
    return _page(request, actor, db)


@router.post("/dashboard/users", response_class=HTMLResponse)
async def invite_user(request: Request, actor: LiveAdmin, db: DatabaseDep) -> Response:
    values = forms.values_of(await request.form(), MULTI)
    settings = _settings(request)
    try:
        with unit_of_work(db) as session:
            user = invites.invite(
                session,
                settings,
                organization_id=actor.organization_id,
                actor=actor.name,
                email=str(values.get("email", "")),
                name=str(values.get("name", "")),
                roles=values.get("roles") or [],
                departments=forms.items(values.get("departments")),
            )
            email = user.email
    except AppError as exc:
        errors = forms.from_app_error(exc, conflict_field="email")
        return _page(
            request, actor, db, invite=values, invite_errors=errors, status_code=exc.status
        )
    notice = f"Invited {email}: an email with a set-password link is on its way."
    return _page(request, actor, db, notice=notice, status_code=status.HTTP_201_CREATED)


@router.post("/dashboard/users/{user_id}", response_class=HTMLResponse)
async def update_user(
    request: Request, user_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    """Name, roles and departments (a department manager's scope). Changing roles ends the
    user's sessions: they sign in again with the new ones."""
    values = forms.values_of(await request.form(), MULTI)
    roles = values.get("roles") or []
    departments = forms.items(values.get("departments"))
    try:
        if not roles:
            raise field_error("roles", "give the user at least one role")
        invites.check_departments(roles, departments)
        if actor.name == f"user:{user_id}" and "org_admin" not in roles:
            raise field_error("roles", "you cannot take org_admin from yourself")
        with unit_of_work(db) as session:
            current = users.get(session, actor.organization_id, user_id)
            # Only what changed: new roles end the user's sessions, a new name should not.
            same_roles = sorted(set(roles)) == sorted(current.roles)
            same_departments = sorted(set(departments)) == sorted(current.departments)
            users.update_user(
                session,
                actor.organization_id,
                user_id,
                actor=actor.name,
                name=str(values.get("name", "")),
                roles=None if same_roles else roles,
                departments=None if same_departments else departments,
            )
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        errors = forms.from_app_error(exc)
        return _page(
            request,
            actor,
            db,
            editing=user_id,
            edit_values=values,
            edit_errors=errors,
            status_code=exc.status,
        )
    return RedirectResponse("/dashboard/users", status.HTTP_303_SEE_OTHER)


def _switch(
    request: Request, actor: Actor, db: DatabaseDep, user_id: uuid.UUID, disabled: bool
) -> Response:
    try:
        if disabled and actor.name == f"user:{user_id}":
            raise Conflict("you cannot deactivate your own account")
        with unit_of_work(db) as session:
            users.update_user(
                session, actor.organization_id, user_id, actor=actor.name, disabled=disabled
            )
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        return _page(request, actor, db, error=message_of(exc), status_code=exc.status)
    return RedirectResponse("/dashboard/users", status.HTTP_303_SEE_OTHER)


@router.post("/dashboard/users/{user_id}/deactivate", response_class=HTMLResponse)
def deactivate_user(
    request: Request, user_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    """The user can no longer sign in; their sessions end at once. Nothing is deleted."""
    return _switch(request, actor, db, user_id, True)


@router.post("/dashboard/users/{user_id}/reactivate", response_class=HTMLResponse)
def reactivate_user(
    request: Request, user_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    return _switch(request, actor, db, user_id, False)


@router.post("/dashboard/users/{user_id}/password-link", response_class=HTMLResponse)
def send_password_link(
    request: Request, user_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    """Email the user a new set-password link (an invitation not acted on, a lost password)."""
    settings = _settings(request)
    with unit_of_work(db) as session:
        user = users.get(session, actor.organization_id, user_id)
        invited = user.password_hash is None
        invites.send_link(session, settings, user, actor=actor.name, invited=invited)
        email = user.email
    return _page(request, actor, db, notice=f"A set-password link is on its way to {email}.")
