"""Event-to-delivery latency of ``laurel serve`` (API + in-process worker) on SQLite.

    python -m bench.latency --events 2000 --concurrency 4
    python -m bench.latency --events 1800 --concurrency 4 --rate 60
    python -m bench.latency --events 1800 --concurrency 4 --rate 60 --warmup 0   # cold start
    python -m bench.latency --events 1000 --concurrency 4 --rate 50 --email      # with email
    python -m bench.latency --events 600 --rate 40 --email --inventory          # issue 4's run

Seeds the demo organization in a fresh temporary directory, serves it with the issuance worker,
sends ``--warmup`` events and waits for their delivery, sends the measured completions over HTTP,
waits until no reward is left ``pending``, ``ready`` or ``issuing``, then reads the rewards from
the SQLite file and reports, per delivered reward:

- created -> delivered: reward ``created_at`` (written in the event's transaction) to
  ``delivered_at``; the figure the target (p99 <= 1 s) is set on;
- received -> delivered: ``event_received_at`` to ``delivered_at``, what the server's own
  ``laurel_event_to_delivered_seconds`` histogram observes;
- sent -> delivered: from the moment the client sent the request, so time spent queueing in the
  server before the transaction began is included; this is what an LMS would see;
- of which ready -> claimed (waiting for the worker) and claimed -> delivered (being issued);
- a timeline: p50 and max per 5 s of the run, by when the reward was created.

Rewards a gate holds (an exhausted budget) are counted by state but have no delivery latency.

With ``--email`` an SMTP server (aiosmtpd) runs on loopback inside the benchmark, the server is
pointed at it (``LAUREL_SMTP_*``) and the demo organization turns email on: every delivered
reward then also writes an outbox row in its delivery transaction, which the worker's email
loop sends beside issuance. The run then also reports, per reward, received -> email accepted
(``event_received_at`` to the moment the SMTP server accepted the message, matched by its
Message-ID), and waits for the outbox to drain too. The rewards are issued by the ``sandbox``
provider (the demo's programs use it), and points programs by the ``points`` provider.

With ``--inventory`` the demo's instant gift-card programs are routed to the ``inventory``
provider instead, and its stock is uploaded before the run with enough codes of each value for
every event the run sends (``bench.inventory_stock``, which asks the dry run what each would
pay): rewards then go through the real allocation path (pick a code, guarded UPDATE, decrypt,
low-stock check). The report counts deliveries per provider and checks that no code was
handed out twice.

Without ``--rate`` the clients send as fast as the server answers (a saturation test); with it,
they offer that many events per second. The server's resident memory is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import harness

MAX_EVENTS = harness.UNIQUE_PAIRS
# States a reward passes through on its way to delivery; none may remain when the run ends.
IN_FLIGHT = ("pending", "ready", "issuing")
WINDOW_SECONDS = 5.0


def _epoch(text: str | None) -> float | None:
    """SQLite keeps Laurel's timestamps as naive UTC text; make them seconds since the epoch."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _read(database: Path) -> contextlib.closing[sqlite3.Connection]:
    """A read-only connection to the server's SQLite file (WAL: it never blocks the writer)."""
    return contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True))


def _in_flight(database: Path) -> int:
    with _read(database) as conn:
        marks = ",".join("?" * len(IN_FLIGHT))
        row = conn.execute(
            f"SELECT count(*) FROM rewards WHERE state IN ({marks})", IN_FLIGHT
        ).fetchone()
    return int(row[0])


def _rewards(database: Path, run: str) -> list[dict[str, Any]]:
    with _read(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT e.source_event_id, r.state, r.created_at, r.event_received_at,"
            " r.ready_at, r.issuing_at, r.delivered_at"
            " FROM rewards r JOIN completion_events e ON e.id = r.event_id"
            " WHERE e.source_event_id LIKE ?",
            (f"bench-{run}-%",),
        ).fetchall()
    return [dict(row) for row in rows]


def _providers(database: Path, run: str) -> tuple[dict[str, int], int]:
    """Delivered rewards of the run per provider, and inventory codes given to two rewards."""
    with _read(database) as conn:
        by_provider = conn.execute(
            "SELECT r.provider, count(*) FROM rewards r"
            " JOIN completion_events e ON e.id = r.event_id"
            " WHERE e.source_event_id LIKE ? AND r.state = 'delivered' GROUP BY r.provider",
            (f"bench-{run}-%",),
        ).fetchall()
        twice = conn.execute(
            "SELECT count(*) FROM (SELECT provider_reference FROM rewards"
            " WHERE provider = 'inventory' GROUP BY provider_reference HAVING count(*) > 1)"
        ).fetchone()[0]
    return {str(name): int(n) for name, n in by_provider}, int(twice)


def _stock(database: Path, code: harness.Source, events: int) -> dict[str, Any]:
    """Route gift cards to the inventory and upload the codes ``events`` events will take."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.inventory_stock", "--first", "0", "--count", str(events)],
        cwd=Path(__file__).resolve().parent.parent,
        env=harness.laurel_env(database, code),
        capture_output=True,
        text=True,
        check=True,
    )
    stocked: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return stocked


def _histogram_within(metrics: str, seconds: str) -> tuple[float, float]:
    """(observations <= ``seconds``, all observations) of the live delivery-latency histogram."""
    within = total = 0.0
    for line in metrics.splitlines():
        if not line.startswith('laurel_event_to_delivered_seconds_bucket{le="'):
            continue
        if 'mode="live"' not in line:
            continue
        value = float(line.rsplit(" ", 1)[1])
        if f'le="{seconds}"' in line:
            within = value
        if 'le="+Inf"' in line:
            total = value
    return within, total


def _timeline(points: list[tuple[float, float]], window: float) -> list[dict[str, float]]:
    """p50 and max latency of the rewards created in each ``window`` seconds of the run: a queue
    that grows shows as a ramp, a stall as a spike, so it tells capacity from hiccups."""
    windows: dict[int, list[float]] = {}
    for at, latency in points:
        windows.setdefault(int(at // window), []).append(latency)
    return [
        {
            "from_s": n * window,
            "rewards": len(values),
            "p50_ms": round(1000 * harness.percentile(values, 50), 1),
            "max_ms": round(1000 * max(values), 1),
        }
        for n, values in sorted(windows.items())
    ]


class _Inbox:
    """aiosmtpd handler: when each message arrived, by Message-ID."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email

        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw)
        self.arrived[str(message["Message-ID"])] = time.time()
        return "250 2.0.0 accepted"


@contextlib.contextmanager
def _smtp() -> Any:
    """An SMTP server on loopback for the run; the Laurel servers inherit its address."""
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = harness.free_port()
    controller = Controller(inbox, hostname=harness.HOST, port=port)
    controller.start()
    saved = {k: os.environ.get(k) for k in _SMTP_ENV}
    os.environ.update(
        {
            "LAUREL_SMTP_HOST": harness.HOST,
            "LAUREL_SMTP_PORT": str(port),
            "LAUREL_SMTP_SECURITY": "none",
        }
    )
    try:
        yield inbox
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        controller.stop()


_SMTP_ENV = ("LAUREL_SMTP_HOST", "LAUREL_SMTP_PORT", "LAUREL_SMTP_SECURITY")


def _emails_in_flight(database: Path) -> int:
    with _read(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM email_outbox WHERE status IN ('pending', 'sending')"
        ).fetchone()
    return int(row[0])


def _emails(database: Path, run: str) -> list[dict[str, Any]]:
    with _read(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT o.message_id, o.status, o.last_error, r.event_received_at, r.delivered_at"
            " FROM email_outbox o JOIN rewards r ON r.id = o.reward_id"
            " JOIN completion_events e ON e.id = r.event_id"
            " WHERE e.source_event_id LIKE ?",
            (f"bench-{run}-%",),
        ).fetchall()
    return [dict(row) for row in rows]


def _enable_email(base_url: str, key: str) -> None:
    response = httpx.patch(
        base_url + "/api/v1/notifications/email-settings",
        json={"enabled": True, "sender_address": "rewards@demo.example"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    response.raise_for_status()


def _drain(database: Path, timeout: float) -> int:
    """Wait until no reward is on its way to delivery; the number still in flight at the end."""
    deadline = time.monotonic() + timeout
    while (left := _in_flight(database)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _drain_emails(database: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (left := _emails_in_flight(database)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def run(
    code: harness.Source,
    events: int,
    concurrency: int,
    rate: float,
    timeout: float,
    separate_worker: bool,
    warmup: int,
    email: bool = False,
    inventory: bool = False,
) -> dict[str, Any]:
    with _smtp() if email else contextlib.nullcontext() as inbox:
        return _run(
            code, events, concurrency, rate, timeout, separate_worker, warmup, inbox, inventory
        )


def _run(
    code: harness.Source,
    events: int,
    concurrency: int,
    rate: float,
    timeout: float,
    separate_worker: bool,
    warmup: int,
    inbox: _Inbox | None,
    inventory: bool = False,
) -> dict[str, Any]:
    run_id = secrets.token_hex(4)
    sent_at: dict[str, float] = {}

    def sender(run: str, offset: int) -> harness.Send:
        async def send(client: httpx.AsyncClient, index: int) -> str | None:
            body = harness.completion(offset + index, run)
            sent_at[body["event_id"]] = time.time()
            response = await client.post("/api/v1/completions", json=body)
            if response.status_code != 202:
                return f"{response.status_code}: {response.text[:200]}"
            return None

        return send

    load_before = harness.load_average()
    with harness.laurel(code, worker=True, separate_worker=separate_worker) as laurel:
        pid = laurel.server.pid
        worker_pid = laurel.worker.pid if laurel.worker is not None else None
        idle_memory = harness.memory_kib(pid)
        headers = {"Authorization": f"Bearer {laurel.key}"}
        if inbox is not None:
            _enable_email(laurel.server.base_url, laurel.key)
        stocked = _stock(laurel.database, code, warmup + events) if inventory else None
        if warmup:
            # A fresh process compiles statements and fills caches on its first requests: a
            # one-off cost kept out of the steady-state figure (--warmup 0 measures it). Warm-up
            # events have their own event id prefix and learner/course pairs and are not counted.
            asyncio.run(
                harness.closed_loop(
                    laurel.server.base_url,
                    headers,
                    warmup,
                    concurrency,
                    sender(f"{run_id}w", 0),
                    deadline_seconds=timeout,
                    rate=rate,
                )
            )
            _drain(laurel.database, timeout)
            if inbox is not None:
                _drain_emails(laurel.database, timeout)
        cpu_before = harness.cpu_seconds(pid)
        worker_cpu_before = harness.cpu_seconds(worker_pid) if worker_pid else 0.0
        busy_before, own_before = harness.busy_seconds(), time.process_time()
        load = asyncio.run(
            harness.closed_loop(
                laurel.server.base_url,
                headers,
                events,
                concurrency,
                sender(run_id, warmup),
                deadline_seconds=timeout,
                rate=rate,
            )
        )
        sent_all, sent_all_wall = time.monotonic(), time.time()
        left = _drain(laurel.database, timeout)
        drained_after = time.monotonic() - sent_all
        emails_left = _drain_emails(laurel.database, timeout) if inbox is not None else 0
        busy, own = harness.busy_seconds() - busy_before, time.process_time() - own_before
        memory = harness.memory_kib(pid)
        cpu = harness.cpu_seconds(pid) - cpu_before
        worker_memory = harness.memory_kib(worker_pid) if worker_pid else None
        worker_cpu = harness.cpu_seconds(worker_pid) - worker_cpu_before if worker_pid else 0.0
        metrics = httpx.get(laurel.server.base_url + "/metrics", timeout=10).text
        rows = _rewards(laurel.database, run_id)
        providers, codes_twice = _providers(laurel.database, run_id)
        email_rows = _emails(laurel.database, run_id) if inbox is not None else []
        # Kept only when something went wrong, for the diagnosis: the directory is deleted.
        logs = {
            server.name: server.log_path.read_text(errors="replace")[-4000:]
            for server in (laurel.server, laurel.worker)
            if server is not None and (left or load.errors)
        }

    states: dict[str, int] = {}
    created, received, end_to_end = [], [], []
    waiting: list[float] = []
    issuing_spans: list[float] = []
    delivered_while_sending = 0
    # (seconds into the run when the reward was created, created -> delivered seconds)
    by_creation: list[tuple[float, float]] = []
    first_sent = min(
        (at for event_id, at in sent_at.items() if event_id.startswith(f"bench-{run_id}-")),
        default=0.0,
    )
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
        delivered = _epoch(row["delivered_at"])
        if delivered is None:
            continue
        delivered_while_sending += delivered <= sent_all_wall
        created.append(delivered - (_epoch(row["created_at"]) or delivered))
        by_creation.append(((_epoch(row["created_at"]) or first_sent) - first_sent, created[-1]))
        received.append(delivered - (_epoch(row["event_received_at"]) or delivered))
        # Where the time went: waiting for the worker to claim it, then being issued.
        ready, issuing = _epoch(row["ready_at"]), _epoch(row["issuing_at"])
        if ready is not None and issuing is not None:
            waiting.append(issuing - ready)
            issuing_spans.append(delivered - issuing)
        end_to_end.append(delivered - sent_at[row["source_event_id"]])
    to_email: list[float] = []
    emails_by_status: dict[str, int] = {}
    email_errors: dict[str, int] = {}
    for row in email_rows:
        emails_by_status[row["status"]] = emails_by_status.get(row["status"], 0) + 1
        if row["status"] != "sent" and row["last_error"]:
            email_errors[row["last_error"][:160]] = email_errors.get(row["last_error"][:160], 0) + 1
        accepted = inbox.arrived.get(row["message_id"]) if inbox is not None else None
        received_at = _epoch(row["event_received_at"])
        if accepted is not None and received_at is not None:
            to_email.append(accepted - received_at)
    within, observed = _histogram_within(metrics, "1.0")
    return {
        "laurel": code.description,
        "settings": harness.settings_overrides(),
        "events": events,
        "concurrency": concurrency,
        "rate": rate,
        "separate_worker": separate_worker,
        "warmup": warmup,
        "load_average_before": load_before,
        "load_average_after": harness.load_average(),
        "sent": load.requests,
        "errors": load.errors,
        "first_error": load.first_error,
        "send_seconds": round(load.wall_seconds, 2),
        "events_per_second": round(load.per_second, 1),
        "request_ms": harness.summary_ms(load.latencies),
        "drain_seconds": round(drained_after, 2),
        "delivered_while_sending": delivered_while_sending,
        "left_in_flight": left,
        "rewards_by_state": states,
        "created_to_delivered_ms": harness.summary_ms(created),
        "received_to_delivered_ms": harness.summary_ms(received),
        "sent_to_delivered_ms": harness.summary_ms(end_to_end),
        "ready_to_claimed_ms": harness.summary_ms(waiting),
        "claimed_to_delivered_ms": harness.summary_ms(issuing_spans),
        "email": inbox is not None,
        "inventory": stocked,
        "delivered_by_provider": providers,
        "codes_handed_out_twice": codes_twice,
        "emails_by_status": emails_by_status,
        "email_errors": dict(sorted(email_errors.items(), key=lambda kv: -kv[1])[:3]),
        "emails_left_in_flight": emails_left,
        "received_to_email_accepted_ms": harness.summary_ms(to_email) if to_email else None,
        "timeline": _timeline(by_creation, WINDOW_SECONDS),
        "delivered_within_1s": round(
            sum(1 for v in created if v <= 1.0) / len(created) if created else 0.0, 4
        ),
        "histogram_within_1s": round(within / observed, 4) if observed else None,
        "server_cpu_seconds": round(cpu, 2),
        "client_cpu_seconds": round(own, 2),
        # Machine-wide and per-process ticks are read moments apart: clamp the rounding noise.
        "other_cpu_seconds": round(max(0.0, busy - cpu - worker_cpu - own), 2),
        "measured_seconds": round(load.wall_seconds + drained_after, 2),
        "rss_idle_mib": round(idle_memory["VmRSS"] / 1024, 1),
        "rss_after_mib": round(memory["VmRSS"] / 1024, 1),
        "rss_peak_mib": round(memory["VmHWM"] / 1024, 1),
        "worker_cpu_seconds": round(worker_cpu, 2),
        "logs": logs,
        "worker_rss_after_mib": round(worker_memory["VmRSS"] / 1024, 1) if worker_memory else None,
    }


def report(result: dict[str, Any]) -> str:
    rows = [
        [name, *result[key].values()]
        for name, key in (
            ("created -> delivered", "created_to_delivered_ms"),
            ("received -> delivered", "received_to_delivered_ms"),
            ("sent -> delivered", "sent_to_delivered_ms"),
            ("  of which ready -> claimed", "ready_to_claimed_ms"),
            ("  of which claimed -> delivered", "claimed_to_delivered_ms"),
            ("received -> email accepted by SMTP", "received_to_email_accepted_ms"),
            ("HTTP request", "request_ms"),
        )
        if result.get(key)
    ]
    offered = f"{result['rate']:g}/s offered" if result["rate"] else "closed loop"
    offered += f", {result['warmup']} warm-up events" if result["warmup"] else ", cold start"
    if result["separate_worker"]:
        offered += ", separate `laurel worker` process"
    if result["email"]:
        offered += ", email on (aiosmtpd on loopback)"
    if result.get("inventory"):
        offered += f", gift cards from the inventory ({result['inventory']['stored']} codes)"
    delivered = sum(n for state, n in result["rewards_by_state"].items() if state == "delivered")
    p99 = result["created_to_delivered_ms"]["p99"]
    rss = result["rss_after_mib"]
    return "\n".join(
        [
            f"Laurel: {result['laurel']}"
            + "".join(f", {k}={v}" for k, v in result["settings"].items()),
            f"{result['sent']} events, {result['concurrency']} clients, {offered}: "
            f"{result['events_per_second']:.1f} events/s accepted in "
            f"{result['send_seconds']:.1f} s, {result['errors']} errors"
            + (f" (first: {result['first_error']})" if result["first_error"] else ""),
            f"rewards by state: {result['rewards_by_state']}; "
            f"{result['delivered_while_sending']} of {delivered} delivered while events were "
            f"still being sent, the rest in the {result['drain_seconds']:.2f} s after"
            + (f"; {result['left_in_flight']} still in flight" if result["left_in_flight"] else ""),
            f"delivered by provider: {result['delivered_by_provider']}; inventory codes "
            f"handed out twice: {result['codes_handed_out_twice']}",
            "",
            harness.table(["latency (ms)", "p50", "p95", "p99", "max"], rows),
            "",
            f"delivered within 1 s of creation: {100 * result['delivered_within_1s']:.1f} %"
            + (
                f" (server histogram, warm-up included: "
                f"{100 * result['histogram_within_1s']:.1f} %)"
                if result["histogram_within_1s"] is not None
                else ""
            ),
            "created -> delivered by when the reward was created (p50 / max ms per "
            f"{WINDOW_SECONDS:g} s): "
            + ", ".join(
                f"{w['from_s']:g}s {w['p50_ms']:,.0f}/{w['max_ms']:,.0f}"
                for w in result["timeline"]
            ),
            f"server RSS: {result['rss_idle_mib']:.1f} MiB idle, {rss:.1f} MiB after the run, "
            f"{result['rss_peak_mib']:.1f} MiB peak; server CPU {result['server_cpu_seconds']} s"
            f"; other processes' CPU {result['other_cpu_seconds']} s"
            f"; 1-min load average {result['load_average_before']} before, "
            f"{result['load_average_after']} after"
            + (
                f"; worker process: {result['worker_rss_after_mib']:.1f} MiB, "
                f"CPU {result['worker_cpu_seconds']} s"
                if result["worker_rss_after_mib"] is not None
                else ""
            ),
            *(
                [
                    f"emails by status: {result['emails_by_status']}"
                    + (f"; errors: {result['email_errors']}" if result["email_errors"] else "")
                    + (
                        f"; {result['emails_left_in_flight']} still in the outbox"
                        if result["emails_left_in_flight"]
                        else ""
                    )
                ]
                if result["email"]
                else []
            ),
            f"targets: p99 created -> delivered <= 1000 ms: "
            f"{'met' if p99 <= 1000 else 'MISSED'} ({p99:,.1f} ms); "
            f"RSS < 250 MB: {'met' if rss * 1.048576 < 250 else 'MISSED'} "
            f"({rss * 1.048576:.1f} MB)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument(
        "--events",
        type=int,
        default=2000,
        help="completions measured; with --warmup at most "
        f"{MAX_EVENTS}, so each pays (no learner/course pair repeats)",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (1..64)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="events sent (same rate and clients) and delivered before measuring; 0: cold start",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="events per second to offer; 0: closed loop"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds allowed for sending, and again for draining the queue",
    )
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="serve with --no-worker and run `laurel worker` as a second process",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="benchmark src/ at this git revision instead of the installed working tree",
    )
    parser.add_argument(
        "--email",
        action="store_true",
        help="email on: an SMTP server on loopback; also report received -> email accepted",
    )
    parser.add_argument(
        "--inventory",
        action="store_true",
        help="route the demo's gift cards to the inventory provider, stocked before the run",
    )
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args(argv)
    if args.events < 1 or args.warmup < 0 or args.events + args.warmup > MAX_EVENTS:
        parser.error(f"--events must be at least 1 and --events + --warmup at most {MAX_EVENTS}")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency must be between 1 and 64")
    if args.rate < 0 or not 0 < args.timeout <= 3600:
        parser.error("--rate must be >= 0 and --timeout between 0 and 3600")

    with harness.source(args.commit) as code:
        result = run(
            code,
            args.events,
            args.concurrency,
            args.rate,
            args.timeout,
            args.separate_worker,
            args.warmup,
            args.email,
            args.inventory,
        )
    print(report(result))
    for name, text in result["logs"].items():
        print(f"\n--- end of the {name} log:\n{text}", file=sys.stderr)
    if args.json:
        path = harness.write_json("latency", {"machine": harness.machine(), "result": result})
        print(f"wrote {path}")
    stuck = result["left_in_flight"] or result["emails_left_in_flight"]
    return 1 if result["errors"] or stuck or result["codes_handed_out_twice"] else 0


if __name__ == "__main__":
    sys.exit(main())
