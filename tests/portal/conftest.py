"""An app that mails through a real SMTP server on loopback (aiosmtpd), over HTTPS cookies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.portal import pages
from tests.notifications.support import HOST, SmtpServer, smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": HOST,
            "smtp_port": smtp.port,
            "smtp_security": "none",
            # Generous: a loaded CI machine once kept the local SMTP server from answering in 5 s.
            "smtp_timeout_seconds": 30.0,
            "public_url": "https://rewards.acme.test",
        }
    )


@pytest.fixture
def portal(
    mail_settings: Settings, database: Database, providers: ProviderRegistry
) -> Iterator[TestClient]:
    pages.THROTTLE = pages.Throttle()
    app = create_app(mail_settings, database, providers=providers)
    with TestClient(app, base_url="https://testserver") as client:
        yield client
