"""The learner's secure page for a W-9 or W-8BEN: ``/tax/forms/{token}``.

The token in the path is the only key (its hash is what the database holds), so the page is
sent with ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, and cannot be
framed. One submission per link; errors are shown field by field in the learner's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from laurel.db import Database
from laurel.organizations import service as organizations
from laurel.tax import forms, requests
from laurel.tax.i18n import Translator, negotiate
from laurel.tax.models import TaxForm

router = APIRouter(prefix="/tax/forms", include_in_schema=False)

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}
MESSAGES = {
    requests.RequestNotFound: "This link is not valid.",
    requests.RequestUsed: "This link was already used.",
    requests.RequestExpired: "This link has expired.",
}
Lang = Annotated[str | None, Query(description="Language override, e.g. es or pt-BR")]


def _render(
    status: int, translate: Translator, *, organization: str = "", **context: Any
) -> HTMLResponse:
    html = _env.get_template("tax_form.html").render(
        _=translate, lang=translate.html_lang, organization=organization, **context
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@dataclass(frozen=True, slots=True)
class Opened:
    form: str
    locale: str
    organization: str
    """The organization's brand name, else its name."""


def _open(db: Database, token: str) -> Opened | requests.RequestClosed | requests.RequestNotFound:
    with db.read_session() as session:
        try:
            found = requests.by_token(session, token)
        except (requests.RequestNotFound, requests.RequestClosed) as exc:
            return exc
        org = organizations.get(session, found.organization_id)
        name = (org.brand or {}).get("name") or org.name
        return Opened(found.form, found.locale, str(name))


def _closed(exc: Exception, lang: str | None, accept: str | None) -> HTMLResponse:
    translate = Translator(negotiate(lang, getattr(exc, "locale", None), accept))
    message = next(
        (m for cls, m in MESSAGES.items() if isinstance(exc, cls)),
        MESSAGES[requests.RequestNotFound],
    )
    status = 404 if isinstance(exc, requests.RequestNotFound) else 410
    return _render(status, translate, closed=message)


def _accept(request: Request) -> str | None:
    header = request.headers.get("accept-language", "")
    return header.split(",")[0].split(";")[0].strip() or None


@router.get("/{token}", response_class=HTMLResponse)
async def show_form(token: str, request: Request, lang: Lang = None) -> HTMLResponse:
    db: Database = request.app.state.database
    found = await run_in_threadpool(_open, db, token)
    if isinstance(found, Exception):
        return _closed(found, lang, _accept(request))
    translate = Translator(negotiate(lang, found.locale))
    return _render(
        200, translate, organization=found.organization, form=found.form, values={}, errors={}
    )


def _submit(db: Database, token: str, data: dict[str, str]) -> Any:
    try:
        with db.session() as session:
            outcome = forms.submit(session, token, data)
            if isinstance(outcome, list):
                # Nothing was written; leave the unit of work without committing anything.
                session.rollback()
            return outcome
    except (requests.RequestNotFound, requests.RequestClosed) as exc:
        return exc


@router.post("/{token}", response_class=HTMLResponse)
async def submit_form(token: str, request: Request, lang: Lang = None) -> HTMLResponse:
    db: Database = request.app.state.database
    found = await run_in_threadpool(_open, db, token)
    if isinstance(found, Exception):
        return _closed(found, lang, _accept(request))
    translate = Translator(negotiate(lang, found.locale))
    submitted = await request.form()
    data = {k: v for k, v in submitted.items() if isinstance(v, str)}
    outcome = await run_in_threadpool(_submit, db, token, data)
    if isinstance(outcome, Exception):
        return _closed(outcome, lang, _accept(request))
    if isinstance(outcome, list):
        problems = {p.field: translate(p.message, **p.params) for p in outcome}
        # The TIN is never echoed back into the page.
        values = {k: v for k, v in data.items() if k not in ("tin", "us_tin", "foreign_tin")}
        return _render(
            422,
            translate,
            organization=found.organization,
            form=found.form,
            values=values,
            errors=problems,
        )
    return _render(
        200, translate, organization=found.organization, done=True, form=TaxForm(found.form).value
    )
