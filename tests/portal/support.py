"""Signing a learner in for page tests: a real session row, its cookies on a client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.kit.http import LEARNER_COOKIE, LEARNER_CSRF_COOKIE
from laurel.learners.models import Learner
from laurel.portal import service

POLICY = service.Policy(
    link_lifetime=timedelta(minutes=15),
    session_lifetime=timedelta(hours=1),
    links_per_hour=5,
    public_url="https://laurel.acme.test",
)


@dataclass(frozen=True, slots=True)
class Signed:
    token: str
    csrf: str

    @property
    def cookies(self) -> dict[str, str]:
        return {LEARNER_COOKIE: self.token, LEARNER_CSRF_COOKIE: self.csrf}


def session_for(database: Database, learner_id: uuid.UUID) -> Signed:
    """A session as the emailed link opens it (the link flow itself: tests/portal)."""
    with database.session() as session:
        person = session.get_one(Learner, learner_id)
        new = service.start_session(
            session, person, method="email_link", policy=POLICY, now=utcnow()
        )
    return Signed(new.token, new.csrf_token)


def sign_in(client: TestClient, database: Database, learner_id: uuid.UUID) -> Signed:
    signed = session_for(database, learner_id)
    client.cookies.clear()
    for name, value in signed.cookies.items():
        client.cookies.set(name, value)
    return signed
