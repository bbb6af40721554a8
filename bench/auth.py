"""What authentication and the permission table cost per request, against a baseline.

In one process and one temporary SQLite database, the same application answers, in turn:

- **baseline**: ``GET /healthz`` (no caller resolved, no table lookup);
- **key**: ``GET /api/v1/rewards?limit=1`` with an admin API key (resolved once, then cached);
- **session**: the same with a signed-in user's session cookie (one lookup per request);

and it times one Argon2id hash and verify (what one password sign-in costs)::

    python -m bench.auth --requests 300
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from laurel import migrate
from laurel.app import create_app
from laurel.auth import service as keys
from laurel.auth import users
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.organizations import service as organizations

PASSWORD = "benchmark password 1"


def _timed(client: TestClient, path: str, headers: dict[str, str], n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        migrate.upgrade(database)
        with database.session() as session:
            org = organizations.create(session, slug="bench", name="Bench", actor="bench")
            key = keys.create_key(
                session, organization_id=org.id, scopes=["admin"], livemode=True, actor="bench"
            ).secret
            users.create(
                session,
                organization_id=org.id,
                email="bench@bench.test",
                roles=["finance"],
                password=PASSWORD,
                actor="bench",
            )
        settings = Settings(database_url=database.url, environment=Environment.test)
        app = create_app(settings, database)
        with TestClient(app, base_url="https://testserver") as client:
            signed = client.post(
                "/api/v1/auth/sign-in",
                json={"organization": "bench", "email": "bench@bench.test", "password": PASSWORD},
            )
            assert signed.status_code == 200
            rows = {
                "baseline /healthz": _timed(client, "/healthz", {}, args.requests),
                "key": _timed(
                    client,
                    "/api/v1/rewards?limit=1",
                    {"Authorization": f"Bearer {key}"},
                    args.requests,
                ),
                "session": _timed(client, "/api/v1/rewards?limit=1", {}, args.requests),
            }
        database.dispose()
    base = statistics.median(rows["baseline /healthz"])
    print(f"{'caller':<20} {'median ms':>10} {'p95 ms':>8} {'x baseline':>10}")
    for name, times in rows.items():
        median = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"{name:<20} {median * 1000:>10.2f} {p95 * 1000:>8.2f} {median / base:>10.1f}")
    start = time.perf_counter()
    encoded = users.hash_password(PASSWORD)
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    users.verify_password(encoded, PASSWORD)
    verified = time.perf_counter() - start
    print(f"argon2id hash {hashed * 1000:.1f} ms, verify {verified * 1000:.1f} ms")


if __name__ == "__main__":
    main()
