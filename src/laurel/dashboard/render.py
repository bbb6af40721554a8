"""Rendering shared by the dashboard pages: templates, the navigation a caller may use, brand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from laurel.auth import permissions
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError
from laurel.kit.http import CSRF_COOKIE, SESSION_COOKIE
from laurel.kit.money import Money
from laurel.organizations.models import Organization

templates = Environment(
    loader=PackageLoader("laurel.dashboard", "templates"), autoescape=select_autoescape()
)


def money(minor: int, currency: str) -> str:
    return f"{Money(minor, currency).format_amount()} {currency}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


templates.filters["money"] = lambda m: money(m.minor, m.currency)
templates.filters["when"] = when
templates.filters["minor"] = money


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    path: str
    """The route as the permission table names it; the link is shown only if the table lets
    the caller open it."""
    role: str | None = None
    """Shown only to users holding this role (pages every caller may open but not all need)."""


NAV = (
    Link("Overview", "/dashboard/overview"),
    Link("Rewards", "/dashboard/rewards"),
    Link("Held", "/dashboard/held"),
    Link("Finance", "/dashboard/finance"),
    Link("Compliance", "/dashboard/compliance"),
    Link("Programs", "/dashboard/programs"),
    Link("Team", "/dashboard/team"),
    Link("My rewards", "/dashboard/me", role="learner"),
    Link("Users", "/dashboard/users"),
    Link("API keys", "/dashboard/api-keys"),
)
"""Every page with a place in the navigation. Adding a page's link is one row here; who sees
it is the permission table's row for its path."""


def allowed(actor: Actor, path: str, method: str = "GET") -> bool:
    """Would the permission table let this caller through this route?"""
    rule = permissions.rule_for(method, path)
    if rule is None:
        return False
    try:
        permissions.authorize(actor, rule)
    except AppError:
        return False
    return True


def nav_for(actor: Actor) -> list[Link]:
    """The links this caller may open."""
    return [
        link
        for link in NAV
        if allowed(actor, link.path) and (link.role is None or link.role in actor.roles)
    ]


def need_session(request: Request) -> None:
    """A browser opening a page with neither a session nor a key is sent to the sign-in page
    (303); other clients get the API's 401. The permission check runs in the route's own
    dependency either way."""
    if request.cookies.get(SESSION_COOKIE) or request.headers.get("authorization"):
        return
    if request.method != "GET" or "text/html" not in request.headers.get("accept", ""):
        return
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(
        status.HTTP_303_SEE_OTHER,
        "sign in first",
        headers={"Location": f"/sign-in?next={target}"},
    )


def brand_of(session: Session, organization_id: uuid.UUID) -> dict[str, str]:
    """The organization's white label: ``name``, ``logo_url``, ``primary_color`` (CSS)."""
    org = session.get(Organization, organization_id)
    brand = dict(org.brand or {}) if org else {}
    color = str(brand.get("primary_color", "#1f4e79"))
    safe_color = color if color.startswith("#") and color[1:].isalnum() and len(color) <= 9 else ""
    return {
        "name": str(brand.get("name") or (org.name if org else "Laurel")),
        "logo_url": str(brand.get("logo_url", "")),
        "primary_color": safe_color or "#1f4e79",
    }


def page(
    request: Request,
    actor: Actor,
    template: str,
    *,
    brand: dict[str, str] | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = templates.get_template(template).render(
        nav=nav_for(actor),
        here=request.url.path,
        csrf_token=request.cookies.get(CSRF_COOKIE, ""),
        brand=brand or {"name": "Laurel", "logo_url": "", "primary_color": "#1f4e79"},
        actor=actor,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def fragment(template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**context))


def message_of(exc: AppError) -> str:
    """An error's message, plainly (``detail`` may be a string, a dict or a list of fields)."""
    detail = exc.detail
    if isinstance(detail, dict):
        return str(detail.get("message", detail))
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, dict):
            return f"{first.get('field', '')}: {first.get('message', first)}".strip(": ")
    return str(detail)
