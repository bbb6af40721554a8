"""`laurel user create` and `laurel user reset-link`, run as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant


def laurel(*args: str, url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = os.environ | {"LAUREL_DATABASE_URL": url, "LAUREL_PUBLIC_URL": "https://l.acme.test"}
    return subprocess.run(
        [sys.executable, "-m", "laurel", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_first_admin_from_the_command_line(
    database: Database, tenant: Tenant, client: TestClient
) -> None:
    made = laurel(
        "user",
        "create",
        "boss@acme.test",
        "--org",
        "acme",
        "--roles",
        "org_admin",
        url=database.url,
        stdin="a long enough password\n",
    )
    assert made.returncode == 0, made.stderr
    assert "org_admin" in made.stdout
    signed = client.post(
        "/api/v1/auth/sign-in",
        json={
            "organization": "acme",
            "email": "boss@acme.test",
            "password": "a long enough password",
        },
    )
    assert signed.status_code == 200

    bad = laurel(
        "user",
        "create",
        "x@acme.test",
        "--org",
        "acme",
        "--roles",
        "root",
        "--no-password",
        url=database.url,
    )
    assert bad.returncode == 2
    assert "--roles" in bad.stderr

    link = laurel("user", "reset-link", "boss@acme.test", "--org", "acme", url=database.url)
    assert link.returncode == 0, link.stderr
    assert link.stdout.startswith("https://l.acme.test/password-reset/confirm?token=")
    token = link.stdout.strip().split("token=", 1)[1]
    confirmed = client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "another long password"},
    )
    assert confirmed.status_code == 204
