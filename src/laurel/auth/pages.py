"""Server-rendered sign-in, sign-out and password reset pages.

Forms posted before a session exists carry a double-submit CSRF token: a random value in an
HttpOnly, SameSite=Strict cookie set with the form, echoed in a hidden field. Sign-out carries
the session's own synchronizer token.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from laurel.auth import users
from laurel.auth.mail import queue_reset
from laurel.auth.users_api import (
    SignInIn,
    clear_session_cookies,
    do_sign_in,
    set_session_cookies,
)
from laurel.config import Environment as Env
from laurel.config import Settings
from laurel.kit.errors import AppError
from laurel.kit.http import SESSION_COOKIE, DatabaseDep, unit_of_work

router = APIRouter(include_in_schema=False)
FORM_COOKIE = "laurel_form_csrf"

_templates = Environment(
    loader=PackageLoader("laurel.auth", "templates"), autoescape=select_autoescape()
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a form page with a fresh double-submit token in its cookie and hidden field."""
    token = secrets.token_urlsafe(24)
    html = _templates.get_template(template).render(csrf_token=token, **context)
    response = HTMLResponse(html, status_code=status_code)
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        secure=_settings(request).environment is not Env.development,
        samesite="strict",
    )
    return response


def _form_token_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(FORM_COOKIE)
    return bool(cookie) and secrets.compare_digest(cookie or "", sent)


def safe_next(target: str) -> str:
    """Only paths on this site: never an open redirect to another host."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, organization: str = "", next: str = "/") -> HTMLResponse:
    return _page(request, "sign_in.html", organization=organization, email="", next=safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in_form(
    request: Request,
    db: DatabaseDep,
    organization: Annotated[str, Form(max_length=64)],
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    again = {"organization": organization, "email": email, "next": safe_next(next)}
    if not _form_token_ok(request, csrf_token):
        return _page(
            request,
            "sign_in.html",
            status.HTTP_403_FORBIDDEN,
            error="The form expired: please sign in again.",
            **again,
        )
    try:
        new = do_sign_in(
            db,
            _settings(request),
            SignInIn(organization=organization, email=email, password=password),
            request.cookies.get(SESSION_COOKIE),
        )
    except AppError as exc:
        detail = exc.detail["message"] if isinstance(exc.detail, dict) else str(exc.detail)
        return _page(request, "sign_in.html", exc.status, error=detail, **again)
    response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookies(response, _settings(request), new)
    response.delete_cookie(FORM_COOKIE)
    return response


@router.post("/sign-out")
def sign_out_form(
    request: Request, db: DatabaseDep, csrf_token: Annotated[str, Form(max_length=100)]
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with unit_of_work(db) as session:
            try:
                resolved = users.resolve(session, token)
            except AppError:
                resolved = None
            if resolved is not None:
                if not users.csrf_matches(resolved.csrf_hash, csrf_token):
                    return HTMLResponse("Wrong CSRF token", status.HTTP_403_FORBIDDEN)
                users.end_session(session, token)
    response = RedirectResponse("/sign-in", status_code=status.HTTP_303_SEE_OTHER)
    clear_session_cookies(response)
    return response


@router.get("/password-reset", response_class=HTMLResponse)
def reset_request_page(request: Request, organization: str = "") -> HTMLResponse:
    return _page(request, "reset_request.html", organization=organization, sent=False)


@router.post("/password-reset", response_class=HTMLResponse)
def reset_request_form(
    request: Request,
    db: DatabaseDep,
    organization: Annotated[str, Form(max_length=64)],
    email: Annotated[str, Form(max_length=320)],
    csrf_token: Annotated[str, Form(max_length=100)],
) -> HTMLResponse:
    if not _form_token_ok(request, csrf_token):
        return _page(
            request,
            "reset_request.html",
            status.HTTP_403_FORBIDDEN,
            organization=organization,
            sent=False,
        )
    settings = _settings(request)
    with unit_of_work(db) as session:
        found = users.request_reset(
            session,
            organization=organization,
            email=email,
            lifetime=timedelta(minutes=settings.password_reset_minutes),
        )
        if found is not None:
            queue_reset(session, settings, found, request.headers.get("accept-language"))
    return _page(request, "reset_request.html", organization=organization, sent=True)


@router.get("/password-reset/confirm", response_class=HTMLResponse)
def reset_confirm_page(request: Request, token: str = "") -> HTMLResponse:
    return _page(
        request, "reset_confirm.html", token=token, done=False, min_length=users.MIN_PASSWORD
    )


@router.post("/password-reset/confirm", response_class=HTMLResponse)
def reset_confirm_form(
    request: Request,
    db: DatabaseDep,
    token: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
    csrf_token: Annotated[str, Form(max_length=100)],
) -> HTMLResponse:
    context: dict[str, Any] = {"token": token, "min_length": users.MIN_PASSWORD}
    if not _form_token_ok(request, csrf_token):
        return _page(
            request,
            "reset_confirm.html",
            status.HTTP_403_FORBIDDEN,
            error="The form expired: open the link again.",
            done=False,
            **context,
        )
    try:
        with unit_of_work(db) as session:
            users.confirm_reset(session, token=token, password=password)
    except AppError as exc:
        detail = exc.detail
        if isinstance(detail, list) and detail:
            detail = detail[0].get("message", detail)
        return _page(
            request, "reset_confirm.html", exc.status, error=str(detail), done=False, **context
        )
    return _page(request, "reset_confirm.html", done=True, **context)
