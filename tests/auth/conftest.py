from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from tests.auth.support import Browser


@pytest.fixture
def app(settings: Settings, database: Database, providers: ProviderRegistry) -> FastAPI:
    return create_app(settings, database, providers=providers)


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    b = Browser(app)
    yield b
    b.client.close()
