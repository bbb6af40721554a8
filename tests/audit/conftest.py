from __future__ import annotations

import pytest
from pydantic import SecretStr

from laurel.audit import signing
from laurel.config import Settings

KEYS = signing.generate_key()
"""One key pair for the audit tests: (base64 private key, PEM public key)."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"audit_signing_key": SecretStr(KEYS[0])})
