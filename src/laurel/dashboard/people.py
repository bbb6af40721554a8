"""Department managers' team pages and the learner's own page (white-labelled).

Both go through ``learners.in_scope`` / ``learners.visible_ids``: a manager asking for a learner
of another department by URL gets 404, as the API answers.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from laurel.analytics import reports
from laurel.dashboard import queries
from laurel.dashboard.render import brand_of, fragment, page
from laurel.kit.http import DatabaseDep, Reader, SignedIn, read_only
from laurel.learners import service as learners

router = APIRouter()


@router.get("/dashboard/team", response_class=HTMLResponse)
def team_page(request: Request, actor: Reader, db: DatabaseDep) -> HTMLResponse:
    with read_only(db) as session:
        members = queries.team(session, actor)
        brand = brand_of(session, actor.organization_id)
        return page(request, actor, "team.html", brand=brand, members=members)


@router.get("/dashboard/team/rates", response_class=HTMLResponse)
def team_rates(actor: Reader, db: DatabaseDep) -> HTMLResponse:
    """Completion rates of the caller's departments: a fragment the team page loads after it
    is shown (the report counts in the database over the caller's learners only)."""
    with read_only(db) as session:
        rates = reports.completion_rates(
            session,
            actor.organization_id,
            actor.livemode,
            by="department",
            period="all",
            start=None,
            end=None,
            **reports.narrowing(actor),
        )
    return fragment("team_rates.html", rates=rates)


@router.get("/dashboard/team/{learner_id}", response_class=HTMLResponse)
def member_page(
    request: Request, learner_id: uuid.UUID, actor: Reader, db: DatabaseDep
) -> HTMLResponse:
    with read_only(db) as session:
        learner = learners.get(session, actor, learner_id)
        history = queries.rewards(session, actor, learner=None, learner_id=learner.id)
        brand = brand_of(session, actor.organization_id)
        return page(request, actor, "member.html", brand=brand, learner=learner, history=history)


@router.get("/dashboard/me", response_class=HTMLResponse)
def my_page(request: Request, actor: SignedIn, db: DatabaseDep) -> HTMLResponse:
    """The learner's own rewards. The table narrows a ``learner`` user to their learner id;
    anyone else (or a learner user with an organization-wide role too) sees an empty list,
    never other people's rewards."""
    with read_only(db) as session:
        history = (
            queries.rewards(session, actor, learner_id=actor.learner_id)
            if actor.learner_id is not None
            else []
        )
        brand = brand_of(session, actor.organization_id)
        return page(request, actor, "me.html", brand=brand, history=history)
