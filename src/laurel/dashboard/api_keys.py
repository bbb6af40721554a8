"""API keys for org admins: create (the key is shown once), rotate with an overlap, revoke,
and when each was last used. The ``auth.service`` functions the API uses do the work."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from laurel.auth import service as keys
from laurel.dashboard import forms
from laurel.dashboard.render import brand_of, message_of, page
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, field_error
from laurel.kit.http import DatabaseDep, KeyCache, LiveAdmin, read_only, unit_of_work

router = APIRouter()
SCOPES = sorted(keys.ALL_SCOPES)
OVERLAP = timedelta(hours=24)
"""The rotate form's default: the old key works for a day after its replacement is made."""


def _page(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    *,
    values: forms.Values | None = None,
    errors: forms.Errors | None = None,
    created: keys.CreatedKey | None = None,
    rotated_from: uuid.UUID | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = utcnow()
    with read_only(db) as session:
        found = keys.list_keys(session, organization_id=actor.organization_id, livemode=None)
        rows: list[dict[str, Any]] = [
            {
                "key": k,
                "status": "revoked"
                if k.revoked_at
                else "expired"
                if k.expires_at and k.expires_at <= now
                else "rotated, ends at expiry"
                if k.replaced_by_id
                else "active",
            }
            for k in reversed(found)
        ]
        response = page(
            request,
            actor,
            "api_keys.html",
            brand=brand_of(session, actor.organization_id),
            status_code=status_code,
            rows=rows,
            scopes=SCOPES,
            values=values or {"scopes": [], "mode": "live"},
            errors=errors or {},
            error=error or (errors or {}).get(""),
            created=created,
            rotated_from=rotated_from,
            overlap_default=(now + OVERLAP).strftime("%Y-%m-%dT%H:%M"),
        )
    # A page showing a key must not be kept by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _forget(request: Request) -> None:
    cache: KeyCache = request.app.state.key_cache
    cache.clear()


@router.get("/dashboard/api-keys", response_class=HTMLResponse)
def api_keys_page(request: Request, actor: LiveAdmin, db: DatabaseDep) -> HTMLResponse:
    return _page(request, actor, db)


@router.post("/dashboard/api-keys", response_class=HTMLResponse)
async def create_api_key(request: Request, actor: LiveAdmin, db: DatabaseDep) -> Response:
    values = forms.values_of(await request.form(), ("scopes",))
    try:
        expires = forms.moment(values.get("expires_at"))
        mode = values.get("mode") or "live"
        if mode not in {"live", "test"}:
            raise field_error("mode", "live or test")
        with unit_of_work(db) as session:
            created = keys.create_key(
                session,
                organization_id=actor.organization_id,
                scopes=values.get("scopes") or [],
                livemode=mode == "live",
                actor=actor.name,
                name=str(values.get("name", "")),
                expires_at=_aware(expires),
            )
    except AppError as exc:
        errors = forms.from_app_error(exc)
        return _page(request, actor, db, values=values, errors=errors, status_code=exc.status)
    return _page(request, actor, db, created=created, status_code=status.HTTP_201_CREATED)


def _aware(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise field_error("expires_at", "give a date and time such as 2027-01-31T18:00") from None


@router.post("/dashboard/api-keys/{key_id}/rotate", response_class=HTMLResponse)
async def rotate_api_key(
    request: Request, key_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    """A replacement shown once; the old key keeps working until the overlap ends."""
    values = forms.values_of(await request.form())
    try:
        until = _aware(forms.moment(values.get("overlap_until"))) or utcnow()
        with unit_of_work(db) as session:
            created = keys.rotate(
                session,
                organization_id=actor.organization_id,
                key_id=key_id,
                actor=actor.name,
                overlap_until=until,
            )
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        return _page(request, actor, db, error=message_of(exc), status_code=exc.status)
    _forget(request)
    return _page(
        request,
        actor,
        db,
        created=created,
        rotated_from=key_id,
        status_code=status.HTTP_201_CREATED,
    )


@router.post("/dashboard/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_api_key(
    request: Request, key_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    with unit_of_work(db) as session:
        keys.revoke(session, organization_id=actor.organization_id, key_id=key_id, actor=actor.name)
    _forget(request)
    return RedirectResponse("/dashboard/api-keys", status.HTTP_303_SEE_OTHER)
