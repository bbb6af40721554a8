"""The learner's sign-in pages: ask for a link, open it, sign out (white-labelled, translated).

``/portal/{organization}/sign-in`` asks for an email address and answers the same whether or
not it belongs to a learner. The emailed ``/portal/link/{token}`` shows a button that posts
the token back: mail scanners that fetch links cannot spend it. Forms posted before a session
exists carry a double-submit token (HttpOnly, SameSite=Strict cookie and hidden field); sign-out
carries the session's own synchronizer token.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from laurel.auth import oidc
from laurel.auth.oidc_api import sso_settings
from laurel.config import Environment as Env
from laurel.config import Settings
from laurel.kit.errors import AppError
from laurel.kit.http import (
    LEARNER_COOKIE,
    LEARNER_CSRF_COOKIE,
    DatabaseDep,
    read_only,
    unit_of_work,
)
from laurel.learners.models import Learner
from laurel.points import i18n
from laurel.points.pages import (
    SIGN_IN_ORG_COOKIE,
    AcceptLanguage,
    Lang,
    brand_of,
    render_page,
    sign_in_path,
)
from laurel.portal import service

router = APIRouter(prefix="/portal", include_in_schema=False)
FORM_COOKIE = "laurel_portal_form"
_NEUTRAL: dict[str, str | None] = {"name": "", "logo_url": None, "color": "#1f5fbf"}


class Throttle:
    """At most ``limit`` sign-in requests per client address in ``window`` seconds, in this
    process. It answers the same whatever the email, so it tells nothing about learners; the
    per-learner limit (``learner_links_per_hour``) is in the database and holds across
    processes."""

    def __init__(self, limit: int = 10, window: float = 600.0) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 50_000:
                self._seen.clear()
            times = self._seen.setdefault(client, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            return True


THROTTLE = Throttle()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def policy(settings: Settings) -> service.Policy:
    return service.Policy(
        link_lifetime=timedelta(minutes=settings.learner_link_minutes),
        session_lifetime=timedelta(hours=settings.learner_session_hours),
        links_per_hour=settings.learner_links_per_hour,
        public_url=settings.public_url,
    )


def _secure(request: Request) -> bool:
    return _settings(request).environment is not Env.development


def _form_page(
    request: Request,
    language: str,
    template: str,
    title: str,
    *,
    brand: dict[str, str | None],
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page with a form posted before any session: a fresh double-submit token."""
    token = secrets.token_urlsafe(24)
    response = render_page(
        language,
        template,
        title,
        brand=brand,
        status_code=status_code,
        nav=None,
        csrf_token=token,
        **context,
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=3600,
        path="/portal",
        httponly=True,
        secure=_secure(request),
        samesite="strict",
    )
    return response


def _form_token_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(FORM_COOKIE) or ""
    return bool(cookie) and secrets.compare_digest(cookie, sent)


def _language(lang: str | None, *preferred: str | None) -> str:
    return i18n.negotiate(lang, *preferred)


def _sign_in(
    request: Request,
    db: DatabaseDep,
    organization: str,
    language: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    with read_only(db) as session:
        org = service.organization_by_slug(session, organization) if organization else None
        brand = brand_of(session, org.id) if org is not None else _NEUTRAL
        slug = org.slug if org is not None else None
        sso = service.has_sso(session, org.id) if org is not None else False
    # An unknown organization gets the generic form (a typo is not a dead end).
    action = f"/portal/{slug}/sign-in" if slug else "/portal/sign-in"
    context.setdefault("sent", False)
    return _form_page(
        request,
        language,
        "sign_in.html",
        "Sign in",
        brand=brand,
        status_code=status_code,
        action=action + (f"?lang={context['lang']}" if context.get("lang") else ""),
        ask_organization=slug is None,
        sso=f"/portal/{slug}/sso" if sso else None,
        organization=organization,
        minutes=int(_settings(request).learner_link_minutes),
        **context,
    )


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_any(
    request: Request, db: DatabaseDep, lang: Lang = None, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    """Sign-in without a known organization: the learner types its short name too."""
    return _sign_in(request, db, "", _language(lang, accept_language), lang=lang)


@router.get("/{organization}/sign-in", response_class=HTMLResponse)
def sign_in_page(
    organization: str,
    request: Request,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    return _sign_in(request, db, organization, _language(lang, accept_language), lang=lang)


def _request_link(
    request: Request,
    db: DatabaseDep,
    organization: str,
    email: str,
    csrf_token: str,
    lang: str | None,
    accept: str | None,
) -> HTMLResponse:
    language = _language(lang, accept)
    if not _form_token_ok(request, csrf_token):
        return _sign_in(
            request,
            db,
            organization,
            language,
            status_code=status.HTTP_403_FORBIDDEN,
            error=i18n.catalog(language).gettext("The form expired: please try again."),
            lang=lang,
        )
    client = request.client.host if request.client else "unknown"
    if not THROTTLE.allow(client):
        return _sign_in(
            request,
            db,
            organization,
            language,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            error=i18n.catalog(language).gettext(
                "Too many sign-in requests from here: please wait a few minutes."
            ),
            lang=lang,
        )
    with unit_of_work(db) as session:
        service.request_link(
            session, organization=organization, email=email, policy=policy(_settings(request))
        )
    # The same page whether or not a link was sent.
    return _sign_in(request, db, organization, language, sent=True, lang=lang)


@router.post("/sign-in", response_class=HTMLResponse)
def request_link_any(
    request: Request,
    db: DatabaseDep,
    organization: Annotated[str, Form(max_length=64)],
    email: Annotated[str, Form(max_length=320)],
    csrf_token: Annotated[str, Form(max_length=100)],
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    return _request_link(request, db, organization, email, csrf_token, lang, accept_language)


@router.post("/{organization}/sign-in", response_class=HTMLResponse)
def request_link(
    organization: str,
    request: Request,
    db: DatabaseDep,
    email: Annotated[str, Form(max_length=320)],
    csrf_token: Annotated[str, Form(max_length=100)],
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    return _request_link(request, db, organization, email, csrf_token, lang, accept_language)


def _link_page(
    request: Request, db: DatabaseDep, token: str, lang: str | None, accept: str | None
) -> HTMLResponse:
    with read_only(db) as session:
        try:
            link = service.peek_link(session, token)
        except service.InvalidLink:
            language = _language(lang, accept)
            return render_page(
                language,
                "link.html",
                "Sign in",
                brand=_NEUTRAL,
                status_code=status.HTTP_400_BAD_REQUEST,
                nav=None,
                error=i18n.catalog(language).gettext(
                    "This sign-in link is unknown, used or expired."
                ),
                again=sign_in_path(request),
            )
        person = session.get(Learner, link.learner_id)
        locale = person.locale if person else None
        brand = brand_of(session, link.organization_id)
    language = _language(lang, locale, accept)
    return _form_page(
        request,
        language,
        "link.html",
        "Sign in",
        brand=brand,
        action=f"/portal/link/{token}" + (f"?lang={lang}" if lang else ""),
    )


@router.get("/link/{token}", response_class=HTMLResponse)
def open_link(
    token: str,
    request: Request,
    db: DatabaseDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    return _link_page(request, db, token, lang, accept_language)


@router.post("/link/{token}", response_class=HTMLResponse)
def use_link(
    token: str,
    request: Request,
    db: DatabaseDep,
    csrf_token: Annotated[str, Form(max_length=100)],
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    if not _form_token_ok(request, csrf_token):
        return _link_page(request, db, token, lang, accept_language)
    settings = _settings(request)
    try:
        with unit_of_work(db) as session:
            new = service.use_link(
                session, token, policy(settings), replaces=request.cookies.get(LEARNER_COOKIE)
            )
            slug = service.organization_slug(session, new.organization_id)
    except AppError:
        return _link_page(request, db, token, lang, accept_language)
    response = RedirectResponse(
        "/points/wallet" + (f"?lang={lang}" if lang else ""), status.HTTP_303_SEE_OTHER
    )
    set_learner_cookies(response, settings, new, slug)
    response.delete_cookie(FORM_COOKIE, path="/portal")
    return response


def set_learner_cookies(
    response: Response, settings: Settings, new: service.NewSession, slug: str
) -> None:
    """The session cookie (HttpOnly, SameSite=Lax: the learner arrives from an email or the
    identity provider), its CSRF token (HttpOnly, Strict: only our own pages render it) and the
    organization the browser signs in to next time (not a secret)."""
    secure = settings.environment is not Env.development
    max_age = int(settings.learner_session_hours * 3600)
    response.set_cookie(
        LEARNER_COOKIE, new.token, max_age=max_age, httponly=True, secure=secure, samesite="lax"
    )
    response.set_cookie(
        LEARNER_CSRF_COOKIE,
        new.csrf_token,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    response.set_cookie(
        SIGN_IN_ORG_COOKIE, slug, max_age=400 * 86400, httponly=True, secure=secure, samesite="lax"
    )


@router.get("/{organization}/sso")
def start_sso(organization: str, request: Request, db: DatabaseDep) -> Response:
    """Sign a learner in through the organization's OpenID Connect provider (when it has one);
    the provider calls back to ``/auth/oidc/callback``, which starts the learner's session."""
    settings = _settings(request)
    with read_only(db) as session:
        issuer = oidc.issuer_of(session, organization)
    oidc.discover(issuer)  # the network, before any transaction; cached for begin()
    with unit_of_work(db) as session:
        url = oidc.begin(
            session,
            organization=organization,
            redirect_to=f"{service.SSO_MARK}/points/wallet",
            settings=sso_settings(settings),
        )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.post("/sign-out")
def sign_out(
    request: Request, db: DatabaseDep, csrf_token: Annotated[str, Form(max_length=100)]
) -> Response:
    token = request.cookies.get(LEARNER_COOKIE)
    if token:
        with unit_of_work(db) as session:
            try:
                resolved = service.resolve(session, token)
            except AppError:
                resolved = None
            if resolved is not None:
                if not service.csrf_matches(resolved.csrf_hash, csrf_token):
                    return HTMLResponse("Wrong CSRF token", status.HTTP_403_FORBIDDEN)
                service.end_session(session, token)
    response = RedirectResponse(sign_in_path(request), status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(LEARNER_COOKIE)
    response.delete_cookie(LEARNER_CSRF_COOKIE)
    return response
