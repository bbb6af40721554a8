"""Reward links: how long a learner waits for the page and for the redemption.

    python -m bench.links --links 200

One process, the real app served by uvicorn on 127.0.0.1 with its worker, on a fresh SQLite
file (``--database-url`` for PostgreSQL). A link program pays ``--links`` completions; the
worker mints their links. Then, one learner after another (closed loop, one client):

- ``open``: ``GET /r/{token}``: find the link by its hash, count and audit the visit, compute
  the choices for the learner's country and value, render the page in their language;
- ``redeem``: ``POST /r/{token}`` until the redirect: the claim, the sandbox provider's issuance
  in its own transaction, the record, and the redirect;
- ``baseline``: ``GET /api/v1/rewards/{id}`` with an admin key, in the same run: an
  authenticated read of the same reward (with its link URL), what any API client pays.

The ratios to the baseline say what the link page costs beyond an ordinary API read.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from bench.harness import free_port, machine, summary_ms, table, write_json
from laurel import migrate
from laurel.app import create_app
from laurel.auth import service as auth
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.organizations import service as organizations

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
ITEM = re.compile(r'name="item_id" value="([0-9a-f-]{36})"')


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn in a thread of this process, on a free loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _setup(db: Database) -> str:
    with db.session() as session:
        org = organizations.create(session, slug="bench", name="Bench", actor="bench")
        key = auth.create_key(
            session, organization_id=org.id, scopes=["admin"], livemode=True, actor="bench"
        )
    return key.secret


def _program(http: httpx.Client, links: int) -> None:
    body: dict[str, Any] = {
        "key": "links",
        "name": "Links",
        "currency": "USD",
        "delivery": "link",
        "reward_kind": "learner_choice",
        "budget": {"amount": f"{25 * links + 100}.00", "currency": "USD"},
        "rules": [{"value": {"kind": "fixed", "amount": {"amount": "25.00", "currency": "USD"}}}],
    }
    http.post("/api/v1/programs", json=body).raise_for_status()
    http.post("/api/v1/catalog/sync").raise_for_status()


def _rewards(http: httpx.Client, links: int) -> list[str]:
    ids = []
    for n in range(links):
        event = {
            "event_id": f"bench-{n}",
            "occurred_at": utcnow().isoformat(),
            "outcome": "passed",
            "learner": {"external_id": f"L{n}", "country": "US", "locale": "es-MX", "name": "Ana"},
            "course": {"external_id": "C1", "title": "Course"},
        }
        answer = http.post("/api/v1/completions", json=event)
        answer.raise_for_status()
        ids.append(answer.json()["rewards"][0]["id"])
    return ids


def _link_urls(http: httpx.Client, ids: list[str], timeout: float = 120) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    urls: dict[str, str] = {}
    while len(urls) < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(urls)} of {len(ids)} links minted")
        for reward_id in ids:
            if reward_id not in urls:
                url = http.get(f"/api/v1/rewards/{reward_id}").json()["link_url"]
                if url:
                    urls[reward_id] = url
        time.sleep(0.05)
    return urls


def run(links: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="laurel-bench-links-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'laurel.db'}"
        db = Database(url)
        migrate.upgrade(db)
        secret = _setup(db)
        settings = Settings(database_url=url, environment=Environment.test)
        app = create_app(settings, db, run_worker=True)
        timings: dict[str, list[float]] = {"baseline": [], "open": [], "redeem": []}
        with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            http.headers["Authorization"] = f"Bearer {secret}"
            _program(http, links)
            ids = _rewards(http, links)
            urls = _link_urls(http, ids)
            learner = httpx.Client(base_url=base, timeout=30)
            for reward_id in ids:
                path = "/r/" + urls[reward_id].rsplit("/r/", 1)[1]
                start = time.perf_counter()
                http.get(f"/api/v1/rewards/{reward_id}").raise_for_status()
                timings["baseline"].append(time.perf_counter() - start)
                start = time.perf_counter()
                page = learner.get(path)
                timings["open"].append(time.perf_counter() - start)
                token = TOKEN.search(page.text)
                item = ITEM.search(page.text)
                assert token, page.text
                assert item, page.text
                start = time.perf_counter()
                done = learner.post(
                    path, data={"form_token": token.group(1), "item_id": item.group(1)}
                )
                timings["redeem"].append(time.perf_counter() - start)
                assert done.status_code == 303, done.text
            learner.close()
            states = {http.get(f"/api/v1/rewards/{i}").json()["state"] for i in ids}
        db.dispose()
    assert states == {"redeemed"}, states
    base_p50 = summary_ms(timings["baseline"])["p50"]
    return {
        "links": links,
        "database": "postgresql" if database_url else "sqlite",
        "run": str(uuid.uuid4()),
        "results": {name: summary_ms(values) for name, values in timings.items()},
        "ratio_p50": {
            name: round(summary_ms(values)["p50"] / base_p50, 2) for name, values in timings.items()
        },
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--json", action="store_true", help="keep the results in bench/results/")
    args = parser.parse_args()
    data = run(args.links, args.database_url)
    rows = [
        [name, *data["results"][name].values(), data["ratio_p50"][name]]
        for name in ("baseline", "open", "redeem")
    ]
    print(f"{data['links']} links on {data['database']}")
    print(table(["request", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50 / baseline"], rows))
    if args.json:
        print(write_json("links", data))


if __name__ == "__main__":
    main()
