"""Completion ingest throughput of Laurel against a bare FastAPI + SQLAlchemy baseline.

    python -m bench.ingest --events 2000 --concurrency 4 --batch-events 8000 --rounds 2

Each round measures, one after the other, with the same client and concurrency:

- ``bare``: ``bench.bare_app`` (validate + insert one row per request; see its docstring);
- ``single``: ``POST /api/v1/completions``, one event per request;
- ``batch``: ``POST /api/v1/completions/batch`` with ``--batch-size`` events per request.

Laurel runs as ``laurel serve --no-worker`` over a freshly seeded demo organization in its own
temporary directory for each phase: the issuance worker would otherwise compete with intake for
the CPU and the SQLite write lock, and this benchmark is about intake alone (``bench.latency``
measures them together). Every event names a distinct learner and course pair, so each one
produces rewards and runs the gates, Laurel's full per-event work. Each phase is warmed up with
``--warmup`` events that are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import harness

PERSONAL = False
"""Set by ``--personal``: events name the learner's email and name."""
TARGET_RATIO = 0.40
TARGET_BATCH_PER_SECOND = 2000.0


@contextlib.contextmanager
def bare() -> Iterator[harness.Server]:
    with tempfile.TemporaryDirectory(prefix="bare-bench-") as tmp:
        workdir = Path(tmp)
        port = harness.free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(harness.REPO), env.get("PYTHONPATH")])
        )
        argv = [
            sys.executable,
            "-m",
            "bench.bare_app",
            "--port",
            str(port),
            "--database",
            str(workdir / "bare.db"),
        ]
        server = harness.start(
            "bare", argv, workdir=workdir, env=env, ready_path="/healthz", port=port
        )
        try:
            yield server
        finally:
            harness.stop(server)


def _measure(
    server: harness.Server,
    headers: dict[str, str],
    requests: int,
    concurrency: int,
    send: harness.Send,
    timeout: float,
) -> tuple[harness.LoadResult, float, float, float, int | None]:
    """The load result, the CPU seconds the server, this client and every other process on
    the machine used during it, and the server's instructions (None without perf)."""
    print(f"  {server.name}: 1-min load average {harness.load_average()}", file=sys.stderr)
    with harness.instructions(server.pid) as counted:
        server_cpu, client_cpu = harness.cpu_seconds(server.pid), time.process_time()
        busy = harness.busy_seconds()
        load = asyncio.run(
            harness.closed_loop(
                server.base_url, headers, requests, concurrency, send, deadline_seconds=timeout
            )
        )
        server_cpu = harness.cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        # Machine-wide and per-process ticks are read moments apart: clamp the rounding noise.
        other_cpu = max(0.0, harness.busy_seconds() - busy - server_cpu - client_cpu)
    return load, server_cpu, client_cpu, other_cpu, counted.count


def _singles(path: str, run: str, offset: int) -> harness.Send:
    async def send(client: httpx.AsyncClient, index: int) -> str | None:
        body = harness.completion(offset + index, run, personal=PERSONAL)
        response = await client.post(path, json=body)
        if response.status_code != 202:
            return f"{response.status_code}: {response.text[:200]}"
        return None

    return send


def _batches(run: str, offset: int, size: int) -> harness.Send:
    async def send(client: httpx.AsyncClient, index: int) -> str | None:
        first = offset + index * size
        events = [harness.completion(first + i, run, personal=PERSONAL) for i in range(size)]
        response = await client.post("/api/v1/completions/batch", json={"events": events})
        if response.status_code != 200:
            return f"{response.status_code}: {response.text[:200]}"
        accepted = response.json()["accepted"]
        return None if accepted == size else f"accepted {accepted} of {size}"

    return send


def _phase(
    name: str,
    events_per_request: int,
    load: harness.LoadResult,
    server_cpu: float,
    client_cpu: float,
    other_cpu: float,
    instructions: int | None = None,
) -> dict[str, Any]:
    events = load.requests * events_per_request
    return {
        "phase": name,
        "requests": load.requests,
        "events": events,
        "errors": load.errors,
        "first_error": load.first_error,
        "wall_seconds": round(load.wall_seconds, 3),
        "events_per_second": round(events / load.wall_seconds, 1) if load.wall_seconds else 0.0,
        "request_ms": harness.summary_ms(load.latencies),
        "server_cpu_ms_per_event": round(1000 * server_cpu / events, 3) if events else None,
        # Millions of user-space instructions per event: the host-independent cost.
        "server_minstr_per_event": (
            round(instructions / events / 1e6, 3) if instructions and events else None
        ),
        "client_cpu_seconds": round(client_cpu, 2),
        "server_cpu_seconds": round(server_cpu, 2),
        "other_cpu_seconds": round(other_cpu, 2),
        "load_average_after": harness.load_average(),
    }


def run_round(code: harness.Source, args: argparse.Namespace) -> list[dict[str, Any]]:
    phases = []
    warm = args.warmup
    with bare() as server:
        run = secrets.token_hex(4)
        _measure(server, {}, warm, args.concurrency, _singles("/completions", run, 0), 60)
        measured = _measure(
            server,
            {},
            args.events,
            args.concurrency,
            _singles("/completions", run, warm),
            args.timeout,
        )
        phases.append(_phase("bare", 1, *measured))

    with harness.laurel(code, worker=False, history=args.history) as laurel:
        run = secrets.token_hex(4)
        headers = {"Authorization": f"Bearer {laurel.key}"}
        path = "/api/v1/completions"
        _measure(laurel.server, headers, warm, args.concurrency, _singles(path, run, 0), 60)
        measured = _measure(
            laurel.server,
            headers,
            args.events,
            args.concurrency,
            _singles(path, run, warm),
            args.timeout,
        )
        phases.append(_phase("single", 1, *measured))

    with harness.laurel(code, worker=False, history=args.history) as laurel:
        run = secrets.token_hex(4)
        headers = {"Authorization": f"Bearer {laurel.key}"}
        _measure(laurel.server, headers, 1, 1, _batches(run, 0, warm), 60)
        size = args.batch_size
        measured = _measure(
            laurel.server,
            headers,
            args.batch_events // size,
            args.concurrency,
            _batches(run, warm, size),
            args.timeout,
        )
        phases.append(_phase("batch", size, *measured))
    return phases


def report(
    code: harness.Source, rounds: list[list[dict[str, Any]]], args: argparse.Namespace
) -> tuple[str, dict[str, Any]]:
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
                    round(100 * p["client_cpu_seconds"] / p["wall_seconds"]),
                    p["other_cpu_seconds"],
                ]
            )
    by_phase: dict[str, list[float]] = {}
    for phases in rounds:
        for p in phases:
            by_phase.setdefault(p["phase"], []).append(p["events_per_second"])
    ratios = [phases[1]["events_per_second"] / phases[0]["events_per_second"] for phases in rounds]
    ratio = harness.median(ratios)
    batch = harness.median(by_phase["batch"])
    summary = {
        "laurel": code.description,
        "settings": harness.settings_overrides(),
        "bare_events_per_second": harness.median(by_phase["bare"]),
        "single_events_per_second": harness.median(by_phase["single"]),
        "batch_events_per_second": batch,
        "single_over_bare": [round(r, 3) for r in ratios],
        "single_over_bare_median": round(ratio, 3),
        "history": args.history,
    }
    text = "\n".join(
        [
            f"Laurel: {code.description}"
            + "".join(f", {k}={v}" for k, v in harness.settings_overrides().items()),
            f"{args.concurrency} clients; singles: {args.events} events per phase; batches of "
            f"{args.batch_size}: {args.batch_events // args.batch_size * args.batch_size} events; "
            "Laurel served with --no-worker"
            + (
                f"; each Laurel database first loaded with {args.history[1]:,} past events "
                f"of {args.history[0]:,} learners"
                if args.history
                else ""
            ),
            "",
            harness.table(
                [
                    "round",
                    "phase",
                    "events",
                    "errors",
                    "wall s",
                    "events/s",
                    "req p50 ms",
                    "req p99 ms",
                    "server CPU ms/event",
                    "server M instr/event",
                    "client CPU %",
                    "other CPU s",
                ],
                rows,
            ),
            "",
            f"single / bare: {', '.join(f'{r:.1%}' for r in ratios)} (median {ratio:.1%}); "
            f"target >= {TARGET_RATIO:.0%}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}",
            f"batch: median {batch:,.1f} events/s; target >= {TARGET_BATCH_PER_SECOND:,.0f}/s: "
            f"{'met' if batch >= TARGET_BATCH_PER_SECOND else 'MISSED'}",
        ]
    )
    return text, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="single events per phase")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (1..64)")
    parser.add_argument(
        "--batch-events", type=int, default=8000, help="events sent through the batch endpoint"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="events per batch (1..1000)")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted events per phase")
    parser.add_argument("--rounds", type=int, default=1, help="repeat all phases (1..10)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per phase")
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="benchmark src/ at this git revision instead of the installed working tree",
    )
    parser.add_argument(
        "--personal",
        action="store_true",
        help="events carry the learner's email and name (sealed per learner since issue 6)",
    )
    parser.add_argument(
        "--history",
        metavar="EVENTS",
        type=int,
        default=0,
        help="load this many past completion events (one learner per 20, with their rewards) "
        "into each Laurel database first: intake measured on a database in service",
    )
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args(argv)
    global PERSONAL  # noqa: PLW0603 - one switch for every event factory of the run
    PERSONAL = args.personal
    if args.history < 0:
        parser.error("--history must be 0 or more")
    args.history = (max(1, args.history // 20), args.history) if args.history else None
    room = harness.UNIQUE_PAIRS - args.warmup
    if not 1 <= args.warmup <= 1000:
        parser.error("--warmup must be between 1 and 1000")
    if not 1 <= args.events <= room:
        parser.error(f"--events must be between 1 and {room}")
    if not 1 <= args.batch_size <= 1000 or not args.batch_size <= args.batch_events <= room:
        parser.error(f"--batch-size must be 1..1000 and --batch-events between it and {room}")
    if not 1 <= args.concurrency <= 64 or not 1 <= args.rounds <= 10:
        parser.error("--concurrency must be 1..64 and --rounds 1..10")
    if not 0 < args.timeout <= 3600:
        parser.error("--timeout must be between 0 and 3600")

    rounds = []
    with harness.source(args.commit) as code:
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds} ...", file=sys.stderr, flush=True)
            rounds.append(run_round(code, args))
    text, summary = report(code, rounds, args)
    print(text)
    if args.json:
        path = harness.write_json(
            "ingest",
            {
                "machine": harness.machine(),
                "args": vars(args),
                "rounds": rounds,
                "summary": summary,
            },
        )
        print(f"wrote {path}")
    return 1 if any(p["errors"] for phases in rounds for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
