"""Users and signed-in clients for the auth tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient

from laurel.auth import users
from laurel.db import Database

PASSWORD = "correct horse battery staple"


def make_user(
    database: Database,
    organization_id: uuid.UUID,
    email: str,
    roles: Iterable[str],
    *,
    departments: Iterable[str] = (),
    learner_id: uuid.UUID | None = None,
    password: str | None = PASSWORD,
) -> uuid.UUID:
    with database.session() as session:
        user = users.create(
            session,
            organization_id=organization_id,
            email=email,
            roles=roles,
            departments=departments,
            learner_id=learner_id,
            password=password,
            actor="test",
        )
        return user.id


@contextmanager
def plain_client(app: FastAPI, base_url: str = "http://testserver") -> Iterator[TestClient]:
    """A TestClient without the app's lifespan: no worker, import runner or list warm-up thread
    that could still hold a connection when the test's database is disposed."""
    client = TestClient(app, base_url=base_url)
    try:
        yield client
    finally:
        client.close()


class Browser:
    """A TestClient over HTTPS (session cookies are Secure) that signs in and sends CSRF."""

    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app, base_url="https://testserver")
        self.csrf = ""

    def sign_in(self, organization: str, email: str, password: str = PASSWORD) -> None:
        response = self.client.post(
            "/api/v1/auth/sign-in",
            json={"organization": organization, "email": email, "password": password},
        )
        assert response.status_code == 200, response.text
        self.csrf = response.json()["csrf_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}
