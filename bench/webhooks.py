"""What the webhook layer costs: Docebo deliveries beside the plain completions endpoint.

    python -m bench.webhooks --events 1000 --concurrency 4

Three phases, each against its own freshly seeded demo organization served by
``laurel serve --no-worker`` (SQLite), with the same client and concurrency:

- ``api``: ``POST /api/v1/completions``, one event per request (Bearer key);
- ``webhook``: ``POST /api/v1/webhooks/docebo``, one ``course.enrollment.completed`` per
  request, HTTP Basic with a connector secret (decrypt, constant-time compare, parse, map);
- ``grouped``: the same endpoint with Docebo's grouped deliveries of 25 events.

Every event names a distinct learner and course pair, so each one produces rewards and runs
the gates. The difference between ``api`` and ``webhook`` is the connector layer's cost.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import harness
from bench.ingest import _measure, _phase, _singles

ORG = "demo"


def _payload(index: int) -> dict[str, Any]:
    event = harness.completion(index, "x")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "fired_at": stamp,
        "user_id": event["learner"]["external_id"],
        "course_id": event["course"]["external_id"],
        "completion_date": stamp,
        "status": "completed",
    }


def _docebo(run: str, offset: int, size: int) -> harness.Send:
    async def send(client: httpx.AsyncClient, index: int) -> str | None:
        first = offset + index * size
        body: dict[str, Any] = {
            "message_id": f"wh-{run}-{first}",
            "event": "course.enrollment.completed",
            "original_domain": "bench.docebosaas.com",
        }
        if size == 1:
            body["payload"] = _payload(first)
        else:
            body["payloads"] = [_payload(first + i) for i in range(size)]
        response = await client.post(f"/api/v1/webhooks/docebo?org={ORG}", json=body)
        if response.status_code != 202:
            return f"{response.status_code}: {response.text[:200]}"
        accepted = response.json()["accepted"]
        return None if accepted == size else f"accepted {accepted} of {size}: {response.text[:300]}"

    return send


def _secret(base_url: str, key: str) -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/api/v1/connectors/docebo/secrets",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    response.raise_for_status()
    token = base64.b64encode(f"bench:{response.json()['secret']}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def run_round(code: harness.Source, args: argparse.Namespace) -> list[dict[str, Any]]:
    phases = []
    warm = args.warmup
    with harness.laurel(code, worker=False) as laurel:
        headers = {"Authorization": f"Bearer {laurel.key}"}
        run = secrets.token_hex(4)
        path = "/api/v1/completions"
        _measure(laurel.server, headers, warm, args.concurrency, _singles(path, run, 0), 60)
        measured = _measure(
            laurel.server, headers, args.events, args.concurrency, _singles(path, run, warm), 600
        )
        phases.append(_phase("api", 1, *measured))
    for name, size in (("webhook", 1), ("grouped", 25)):
        with harness.laurel(code, worker=False) as laurel:
            headers = _secret(laurel.server.base_url, laurel.key)
            run = secrets.token_hex(4)
            _measure(laurel.server, headers, warm, args.concurrency, _docebo(run, 0, 1), 60)
            measured = _measure(
                laurel.server,
                headers,
                args.events // size,
                args.concurrency,
                _docebo(run, warm, size),
                600,
            )
            phases.append(_phase(name, size, *measured))
    return phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="events per phase")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (1..64)")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted events per phase")
    args = parser.parse_args(argv)
    if not 25 <= args.events <= harness.UNIQUE_PAIRS - args.warmup:
        parser.error("--events must leave room for the warm-up in the distinct pairs")
    with harness.source(None) as code:
        phases = run_round(code, args)
    rows = [
        [
            p["phase"],
            p["events"],
            p["errors"],
            p["events_per_second"],
            p["request_ms"]["p50"],
            p["request_ms"]["p99"],
            p["server_cpu_ms_per_event"],
        ]
        for p in phases
    ]
    print(f"machine: {harness.machine()}")
    print(
        harness.table(
            ["phase", "events", "errors", "events/s", "p50 ms", "p99 ms", "server CPU ms/event"],
            rows,
        )
    )
    return 1 if any(p["errors"] for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
