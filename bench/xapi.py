"""xAPI statements per second through ``/xapi/statements``, beside a bare FastAPI endpoint.

    python -m bench.xapi --statements 1000 --arrays 40 --concurrency 4 --rounds 1

Each round measures, one after the other, with the same client and concurrency:

- ``bare``: ``bench.bare_app`` (validate + insert one SQLite row per request), the baseline;
- ``sqlite single`` / ``sqlite array``: ``laurel serve`` on SQLite, one statement per ``POST``,
  then arrays of ``--array-size`` statements per ``POST``;
- ``postgresql single`` / ``postgresql array``: the same against a fresh PostgreSQL database
  (``--pg``; skipped with ``--no-pg``).

Every statement is a ``passed`` by an account agent on an activity the organization's catalogue
knows (the demo courses, registered under their activity IRIs with the demo course types), so
each one runs Laurel's whole intake: statement storage, learner and course lookup, event,
rules, reward, gates. A phase counts only when every statement ended in a ``ready`` reward
(checked in the database afterwards). Laurel runs with ``--no-worker``, as in ``bench.ingest``.
Authentication is HTTP Basic with the API key as password, as LRS clients send it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import harness
from bench.ingest import _measure, _phase, _singles, bare

TARGET_RATIO = 0.40
TARGET_ARRAY_PER_SECOND = 2000.0
HOME = "https://lms.example.com"
ACTIVITY = "https://lms.example.com/courses/"
PASSED = "http://adlnet.gov/expapi/verbs/passed"


def statement(index: int) -> dict[str, Any]:
    """The ``index``-th statement: walks learners first, like ``harness.completion``."""
    learner = harness.FIRST_LEARNER + index % harness.LEARNERS
    course = harness.COURSES[(index // harness.LEARNERS) % len(harness.COURSES)]
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": f"E{learner}"}},
        "verb": {"id": PASSED, "display": {"en-US": "passed"}},
        "object": {"objectType": "Activity", "id": ACTIVITY + course},
        "result": {"score": {"scaled": 0.9}, "success": True, "completion": True},
        "timestamp": datetime.now(UTC).isoformat(),
    }


def _headers(key: str) -> dict[str, str]:
    token = base64.b64encode(f"lms:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}


def _send_single(offset: int) -> harness.Send:
    async def send(client: httpx.AsyncClient, index: int) -> str | None:
        response = await client.post("/xapi/statements", json=statement(offset + index))
        return (
            None
            if response.status_code == 200
            else f"{response.status_code}: {response.text[:200]}"
        )

    return send


def _send_array(offset: int, size: int) -> harness.Send:
    async def send(client: httpx.AsyncClient, index: int) -> str | None:
        first = offset + index * size
        body = [statement(first + i) for i in range(size)]
        response = await client.post("/xapi/statements", json=body)
        if response.status_code != 200:
            return f"{response.status_code}: {response.text[:200]}"
        return None if len(response.json()) == size else "fewer ids than statements"

    return send


def _catalogue(base_url: str, key: str) -> None:
    """Register the demo's courses and learners under the identifiers xAPI will send."""
    admin = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=admin, timeout=60) as client:
        for code in harness.COURSES:
            demo = client.get("/api/v1/courses", params={"limit": 500}).json()["data"]
            [found] = [c for c in demo if c["external_id"] == code]
            body = {
                "external_id": ACTIVITY + code,
                "title": found["title"],
                "type": found["type"],
                "duration_minutes": found["duration_minutes"],
                "importance": found["importance"],
                "tags": found["tags"],
            }
            response = client.post("/api/v1/courses", json=body)
            response.raise_for_status()
        cursor = None
        people: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/learners", params=params).json()
            people.extend(page["data"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        for person in people:
            body = {
                k: person[k]
                for k in ("email", "name", "classification", "department", "country", "locale")
                if person.get(k) is not None
            }
            body["external_id"] = f"account:{HOME}|{person['external_id']}"
            body.pop("email", None)
            # Contractors and channel partners need a W-9 before their first reward (held
            # ``tax_form_required``): the tax gate working, not intake finishing, as with the
            # budgets below. They are paid here as the employees they copy otherwise are.
            if body.get("classification") in ("contractor", "channel_partner"):
                body["classification"] = "employee"
            client.post("/api/v1/learners", json=body).raise_for_status()
        # The demo's budgets run out after a few hundred rewards; a reward held for budget is
        # the gate working, not intake finishing, so give every budget room for the run.
        for program in client.get("/api/v1/programs").json():
            if program.get("budget"):
                currency = program["budget"]["limit"]["currency"]
                money = {"amount": "100000000.00", "currency": currency}
                answer = client.patch(f"/api/v1/programs/{program['id']}", json={"budget": money})
                answer.raise_for_status()


@contextlib.contextmanager
def laurel_pg(code: harness.Source, admin_url: str) -> Iterator[tuple[harness.LaurelRun, str]]:
    """Like ``harness.laurel`` but on a fresh PostgreSQL database, dropped afterwards."""
    name = f"laurel_bench_xapi_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        with tempfile.TemporaryDirectory(prefix="laurel-bench-") as tmp:
            workdir = Path(tmp)
            env = harness.laurel_env(workdir / "unused.db", code)
            env["LAUREL_DATABASE_URL"] = f"{url}/{name}"
            subprocess.run(
                [*harness.laurel_command(), "db", "upgrade"],
                cwd=workdir,
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
            result = subprocess.run(
                [*harness.laurel_command(), "demo", "--no-serve"],
                cwd=workdir,
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            )
            found = harness._KEY_LINE.search(result.stdout)
            assert found is not None, result.stdout
            port = harness.free_port()
            argv = [
                *harness.laurel_command(),
                "serve",
                "--host",
                harness.HOST,
                "--port",
                str(port),
                "--no-worker",
            ]
            server = harness.start(
                "laurel-pg", argv, workdir=workdir, env=env, ready_path="/readyz", port=port
            )
            try:
                run = harness.LaurelRun(server, found.group(1), workdir / "unused.db", workdir)
                yield run, f"{admin_url.rsplit('/', 1)[0]}/{name}"
            finally:
                harness.stop(server)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _outcome(run: harness.LaurelRun, pg: str | None) -> dict[str, int]:
    """What the run left in its database: statements, and events without a ready reward."""
    queries = {
        "statements_stored": "SELECT count(*) FROM xapi_statements",
        "rewards_ready": "SELECT count(*) FROM rewards WHERE state = 'ready'",
        "rewards_not_ready": "SELECT count(*) FROM rewards WHERE state <> 'ready'",
        "events_without_reward": (
            "SELECT count(*) FROM completion_events e WHERE e.source = 'xapi' AND NOT EXISTS "
            "(SELECT 1 FROM rewards r WHERE r.event_id = e.id)"
        ),
    }
    found: dict[str, int] = {}
    if pg is None:
        with contextlib.closing(sqlite3.connect(run.database)) as conn:
            for name, sql in queries.items():
                found[name] = int(conn.execute(sql).fetchone()[0])
        return found
    with psycopg.connect(pg) as conn:
        for name, sql in queries.items():
            row = conn.execute(sql).fetchone()
            assert row is not None
            found[name] = int(row[0])
    return found


def _laurel_phases(
    label: str, run: harness.LaurelRun, pg_url: str | None, args: argparse.Namespace
) -> list[dict[str, Any]]:
    _catalogue(run.server.base_url, run.key)
    warm = args.warmup
    headers = _headers(run.key)
    _measure(run.server, headers, warm, args.concurrency, _send_single(0), 60)
    phases = []
    measured = _measure(
        run.server, headers, args.statements, args.concurrency, _send_single(warm), args.timeout
    )
    single = _phase(f"{label} single", 1, *measured)
    phases.append(single)
    offset = warm + args.statements
    size = args.array_size
    measured = _measure(
        run.server, headers, args.arrays, args.concurrency, _send_array(offset, size), args.timeout
    )
    array = _phase(f"{label} array", size, *measured)
    phases.append(array)
    # A statement may pay from more than one program (the demo's compliance and points programs
    # both pay for SEC-101): every statement must have stored an event with at least one reward,
    # and every reward must be ready.
    outcome = _outcome(run, pg_url)
    expected = warm + single["events"] + array["events"]
    for phase in phases:
        phase.update(outcome)
        phase["all_ready"] = (
            outcome["statements_stored"] == expected
            and outcome["rewards_not_ready"] == 0
            and outcome["events_without_reward"] == 0
        )
    return phases


def run_round(code: harness.Source, args: argparse.Namespace) -> list[dict[str, Any]]:
    phases = []
    with bare() as server:
        run = secrets.token_hex(4)
        _measure(server, {}, args.warmup, args.concurrency, _singles("/completions", run, 0), 60)
        measured = _measure(
            server,
            {},
            args.statements,
            args.concurrency,
            _singles("/completions", run, args.warmup),
            args.timeout,
        )
        phases.append(_phase("bare", 1, *measured))
    with harness.laurel(code, worker=False) as laurel:
        phases.extend(_laurel_phases("sqlite", laurel, None, args))
    if not args.no_pg:
        with laurel_pg(code, args.pg) as (laurel, url):
            phases.extend(_laurel_phases("postgresql", laurel, url, args))
    return phases


def report(rounds: list[list[dict[str, Any]]], args: argparse.Namespace) -> str:
    rows = []
    for number, phases in enumerate(rounds, 1):
        for p in phases:
            rows.append(
                [
                    number,
                    p["phase"],
                    p["events"],
                    p["errors"],
                    p["wall_seconds"],
                    p["events_per_second"],
                    p["request_ms"]["p50"],
                    p["request_ms"]["p99"],
                    p["server_cpu_ms_per_event"],
                    p.get("server_minstr_per_event") or "-",
                    p.get("all_ready", "-"),
                    p["other_cpu_seconds"],
                ]
            )
    lines = [
        f"{args.concurrency} clients; single: {args.statements} statements per phase; arrays: "
        f"{args.arrays} x {args.array_size}; Laurel served with --no-worker",
        "",
        harness.table(
            [
                "round",
                "phase",
                "statements",
                "errors",
                "wall s",
                "statements/s",
                "req p50 ms",
                "req p99 ms",
                "server CPU ms/stmt",
                "server M instr/stmt",
                "all rewards ready",
                "other CPU s",
            ],
            rows,
        ),
        "",
    ]
    for label in ("sqlite", "postgresql"):
        ratios, arrays = [], []
        for phases in rounds:
            by = {p["phase"]: p for p in phases}
            if f"{label} single" not in by:
                continue
            ratios.append(
                by[f"{label} single"]["events_per_second"] / by["bare"]["events_per_second"]
            )
            arrays.append(by[f"{label} array"]["events_per_second"])
        if not ratios:
            continue
        ratio, array = harness.median(ratios), harness.median(arrays)
        lines.append(
            f"{label}: single / bare {', '.join(f'{r:.1%}' for r in ratios)} (median {ratio:.1%}; "
            f"target >= {TARGET_RATIO:.0%}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}); "
            f"arrays median {array:,.1f} statements/s (target >= {TARGET_ARRAY_PER_SECOND:,.0f}: "
            f"{'met' if array >= TARGET_ARRAY_PER_SECOND else 'MISSED'})"
        )
    for label in ("sqlite", "postgresql"):
        work = _instruction_ratios(rounds, label)
        if work:
            lines.append(
                f"{label}: bare's instructions per request / Laurel's per single statement "
                f"{', '.join(f'{r:.1%}' for r in work)} (the CPU work alone, whatever the host's "
                "speed; not the target, which is throughput)"
            )
    return "\n".join(lines)


def _instruction_ratios(rounds: list[list[dict[str, Any]]], label: str) -> list[float]:
    found = []
    for phases in rounds:
        by = {p["phase"]: p for p in phases}
        bare_cost = by.get("bare", {}).get("server_minstr_per_event")
        cost = by.get(f"{label} single", {}).get("server_minstr_per_event")
        if bare_cost and cost:
            found.append(bare_cost / cost)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.xapi", description=__doc__)
    parser.add_argument("--statements", type=int, default=1000, help="single statements per phase")
    parser.add_argument("--arrays", type=int, default=40, help="arrays per phase")
    parser.add_argument("--array-size", type=int, default=100, help="statements per array")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (1..64)")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted statements per phase")
    parser.add_argument("--rounds", type=int, default=1, help="repeat all phases (1..10)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per phase")
    parser.add_argument(
        "--pg",
        default=os.environ.get("LAUREL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the benchmark's database on",
    )
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL phases")
    parser.add_argument("--commit", metavar="REV", help="benchmark src/ at this git revision")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args(argv)
    total = args.warmup + args.statements + args.arrays * args.array_size
    if total > harness.UNIQUE_PAIRS:
        parser.error(f"warmup + statements + arrays x size must be at most {harness.UNIQUE_PAIRS}")
    if not 1 <= args.concurrency <= 64 or not 1 <= args.rounds <= 10:
        parser.error("--concurrency must be 1..64 and --rounds 1..10")
    rounds = []
    with harness.source(args.commit) as code:
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds} ...", file=sys.stderr, flush=True)
            rounds.append(run_round(code, args))
    print(f"Laurel: {code.description}")
    print(report(rounds, args))
    if args.json:
        path = harness.write_json(
            "xapi", {"machine": harness.machine(), "args": vars(args), "rounds": rounds}
        )
        print(f"wrote {path}")
    failed = any(p["errors"] or p.get("all_ready") is False for phases in rounds for p in phases)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
