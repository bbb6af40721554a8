from __future__ import annotations

from collections.abc import Iterator

import pytest

from laurel.db import Database
from laurel.tax import requests
from tests.tax.support import Outbox, load_rates


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    box = Outbox()
    requests.SENDERS.append(box)
    yield box
    requests.SENDERS.remove(box)


@pytest.fixture
def rates(database: Database) -> None:
    load_rates(database)
