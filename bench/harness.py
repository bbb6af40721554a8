"""Shared plumbing for the benchmarks: servers in throw-away directories, load, statistics.

Every server is a child process bound to 127.0.0.1 on a free port, with its own temporary
directory and SQLite file, so runs never see each other's data and nothing leaves the machine.
Servers are stopped by the process id this module started, never by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"

# Courses of the demo organization that pay without a person's approval. Leadership courses are
# left out: their rewards above the approval threshold wait for an approver, which is not
# something a latency or throughput figure should include.
COURSES = (
    "SEC-101",
    "HAR-201",
    "ABC-110",
    "DPR-120",
    "CRT-300",
    "CRT-310",
    "CRT-320",
    "PRT-500",
    "PRT-510",
    "ONB-600",
    "ONB-610",
    "MIC-700",
    "MIC-710",
    "MIC-720",
    "ELC-800",
    "ELC-810",
    "ELC-820",
)
FIRST_LEARNER = 1001
LEARNERS = 500
# Each (learner, course) pair pays at most once, so this many events can all produce rewards.
UNIQUE_PAIRS = LEARNERS * len(COURSES)

_KEY_LINE = re.compile(r"API key \(admin, live\): (\S+)")


# ---------------------------------------------------------------- events


def completion(index: int, run: str, *, personal: bool = False) -> dict[str, Any]:
    """The ``index``-th event of a run: a passed course, occurred now, with a unique event id.

    Consecutive indexes walk the learners first, so neighbouring events never share a learner,
    and the first ``UNIQUE_PAIRS`` events name distinct (learner, course) pairs. With
    ``personal`` the learner also carries an email and a name, the same ones every time (the
    first event of a run changes the seeded learner's, the next ones repeat them).
    """
    learner = FIRST_LEARNER + index % LEARNERS
    course = COURSES[(index // LEARNERS) % len(COURSES)]
    who: dict[str, Any] = {"external_id": f"E{learner}"}
    if personal:
        who |= {"email": f"e{learner}@bench.example.com", "name": f"Bench Learner {learner}"}
    return {
        "event_id": f"bench-{run}-{index}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "outcome": "passed",
        "score": 0.9,
        "learner": who,
        "course": {"external_id": course},
    }


# ---------------------------------------------------------------- processes


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice, released for the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server child process and where to reach it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}; "
                f"log:\n{server.log_path.read_text(errors='replace')[-3000:]}"
            )
        try:
            if httpx.get(server.base_url + path, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop(server)
    raise TimeoutError(f"{server.name} did not answer {path} within {timeout:.0f} s")


def start(
    name: str,
    argv: Sequence[str],
    *,
    workdir: Path,
    env: dict[str, str],
    ready_path: str | None,
    port: int,
    timeout: float | None = None,
) -> Server:
    """Start a child process logging to ``workdir``; wait for ``ready_path`` to answer 200
    (within ``timeout`` seconds; default ``LAUREL_BENCH_READY_SECONDS`` or 30: a loaded machine
    may need more)."""
    if timeout is None:
        timeout = float(os.environ.get("LAUREL_BENCH_READY_SECONDS", "30"))
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, port, log_path)
    if ready_path is not None:
        _wait_ready(server, ready_path, timeout)
    return server


def stop(server: Server, timeout: float = 15.0) -> None:
    """SIGINT first so uvicorn runs its shutdown (and Laurel stops its worker), then SIGKILL."""
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)


@dataclass(frozen=True)
class Source:
    """Which Laurel code the servers run: the installed working tree, or one exported commit."""

    path: Path | None
    """A ``src`` directory put first on the servers' PYTHONPATH; None: the installed package."""
    description: str


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@contextlib.contextmanager
def source(revision: str | None) -> Iterator[Source]:
    """The code to benchmark. With a revision, ``src/`` at that commit is exported (``git
    archive``, which leaves the repository untouched) to a temporary directory, so edits made to
    the working tree while a long run is going on cannot change what is measured halfway."""
    if revision is None:
        dirty = _git("status", "--porcelain", "--", "src")
        head = _git("rev-parse", "--short=12", "HEAD")
        yield Source(
            None, f"working tree at {head}" + (" with uncommitted changes" if dirty else "")
        )
        return
    commit = _git("rev-parse", "--short=12", f"{revision}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix=f"laurel-{commit}-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", commit, "src"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Source(Path(tmp) / "src", f"commit {commit}")


def laurel_env(database: Path, code: Source) -> dict[str, str]:
    env = dict(os.environ)
    env["LAUREL_DATABASE_URL"] = f"sqlite:///{database}"
    # The server's INFO lines are not wanted in the benchmark's output; errors still reach the log.
    env["LAUREL_LOG_LEVEL"] = "WARNING"
    if code.path is not None:
        # PYTHONPATH comes before the editable install's .pth entry, so this copy is imported.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code.path), env.get("PYTHONPATH")]))
    return env


def settings_overrides() -> dict[str, str]:
    """``LAUREL_*`` settings given to this benchmark's environment, which the servers inherit."""
    ours = {"LAUREL_DATABASE_URL", "LAUREL_LOG_LEVEL"}  # set per server by laurel_env
    return {
        k: v for k, v in sorted(os.environ.items()) if k.startswith("LAUREL_") and k not in ours
    }


def laurel_command() -> list[str]:
    """``laurel`` as its console script runs it, importing whichever copy PYTHONPATH selects."""
    return [sys.executable, "-c", "from laurel.cli import main; main()"]


def seed_demo(workdir: Path, database: Path, code: Source) -> str:
    """Run ``laurel demo --no-serve`` and return the live admin key it prints."""
    result = subprocess.run(
        [*laurel_command(), "demo", "--no-serve"],
        cwd=workdir,
        env=laurel_env(database, code),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = _KEY_LINE.search(result.stdout)
    if found is None:
        raise RuntimeError(f"no live key in `laurel demo` output:\n{result.stdout}")
    _unlimited_budgets(database)
    return found.group(1)


def _unlimited_budgets(database: Path) -> None:
    """Raise the demo's budgets ($50,000 a program) out of reach.

    A benchmark sends thousands of events; with the demo's budgets the later rewards would be
    held for ``budget_exhausted`` and never delivered, so rates would mix two paths and
    latencies would miss rewards. Budgets are still reserved for every reward.
    """
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE budgets SET limit_minor = 100000000000000")


@dataclass
class LaurelRun:
    server: Server
    key: str
    database: Path
    workdir: Path
    worker: Server | None = None
    """The separate ``laurel worker`` process, when the run asked for one."""


def preload(workdir: Path, database: Path, code: Source, learners: int, events: int) -> None:
    """Fill ``database`` with a year of the demo organization's history (``bench.dashboard``'s
    generator: ``learners`` learners, ``events`` completion events with their rewards), so
    a benchmark measures a database in service rather than a new one."""
    env = laurel_env(database, code)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(REPO)]))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.dashboard",
            "--load-into",
            str(database),
            "--learners",
            str(learners),
            "--events",
            str(events),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=True,
    )


@contextlib.contextmanager
def laurel(
    code: Source,
    *,
    worker: bool,
    separate_worker: bool = False,
    history: tuple[int, int] | None = None,
) -> Iterator[LaurelRun]:
    """A seeded demo organization served by ``laurel serve`` from a fresh temporary directory.

    ``worker``: the in-process issuance worker of ``laurel serve``. ``separate_worker``: a
    ``laurel worker`` process beside a ``laurel serve --no-worker`` (it then takes precedence).
    ``history``: (learners, events) loaded first with ``preload``.
    """
    with tempfile.TemporaryDirectory(prefix="laurel-bench-") as tmp:
        workdir = Path(tmp)
        database = workdir / "laurel.db"
        env = laurel_env(database, code)
        if history is not None:
            preload(workdir, database, code, *history)
        key = seed_demo(workdir, database, code)
        port = free_port()
        argv = [*laurel_command(), "serve", "--host", HOST, "--port", str(port)]
        if not worker or separate_worker:
            argv.append("--no-worker")
        server = start("laurel", argv, workdir=workdir, env=env, ready_path="/readyz", port=port)
        run = LaurelRun(server, key, database, workdir)
        try:
            if separate_worker:
                run.worker = start(
                    "laurel-worker",
                    [*laurel_command(), "worker"],
                    workdir=workdir,
                    env=env,
                    ready_path=None,
                    port=0,
                )
            yield run
        finally:
            if run.worker is not None:
                stop(run.worker)
            stop(server)


# ---------------------------------------------------------------- process figures


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            found[name] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may itself contain spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Instructions:
    """User-space instructions a process executed while the block ran (``perf stat``), or
    None where perf is missing or not allowed. Unlike CPU time, the count does not move with
    a host that runs slower or a neighbour that shares the core: two runs of the same work
    agree within about one per cent, so it shows a change of a few per cent that the timed
    phases of a noisy machine cannot."""

    count: int | None = None


@contextlib.contextmanager
def instructions(pid: int) -> Iterator[Instructions]:
    found = Instructions()
    if shutil.which("perf") is None:
        yield found
        return
    perf = subprocess.Popen(
        ["perf", "stat", "-x,", "-e", "instructions:u", "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)  # perf attaches before the work starts
    try:
        yield found
    finally:
        perf.send_signal(signal.SIGINT)
        try:
            _, err = perf.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            perf.kill()
            err = ""
        for line in err.splitlines():
            value, _, rest = line.partition(",")
            if "instructions" in rest and value.strip().isdigit():
                found.count = int(value)


def busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores, every process) since boot.

    Less the benchmark's own processes over a run, it is what other work on the machine took:
    the load average says a neighbour was there, this says how much it took."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    """The 1-minute load average: how busy the machine was with other work around a run."""
    return round(os.getloadavg()[0], 2)


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {}
    for dist in ("fastapi", "uvicorn", "starlette", "pydantic", "sqlalchemy", "httpx"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(total_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


# ---------------------------------------------------------------- load


@dataclass
class LoadResult:
    """What a closed-loop run of requests measured from the client's side."""

    requests: int = 0
    errors: int = 0
    wall_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    """Seconds from sending each request to having its full answer."""
    first_error: str | None = None

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_seconds if self.wall_seconds else 0.0


Send = Callable[[httpx.AsyncClient, int], Awaitable[str | None]]
"""Sends request number ``i``; returns None on success or a short description of the failure."""


async def closed_loop(
    base_url: str,
    headers: dict[str, str],
    count: int,
    concurrency: int,
    send: Send,
    *,
    deadline_seconds: float,
    rate: float = 0.0,
) -> LoadResult:
    """``concurrency`` clients each send their next request as soon as the previous answers.

    Requests are numbered 0..count-1 across all clients. With ``rate`` > 0, request ``i`` is not
    sent before ``i / rate`` seconds into the run (an offered load, as long as ``concurrency``
    clients keep up); its latency is counted from then. The run stops early (with what it has
    measured) when ``deadline_seconds`` pass, so a slow server cannot hold the benchmark hostage.
    """
    result = LoadResult()
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # A request may wait its turn behind the others for a long time (a batch of 1000 queued
    # behind three more); only the run's deadline should cut it short.
    timeout = httpx.Timeout(deadline_seconds)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=timeout
    ) as client:
        started = time.perf_counter()
        stop_at = started + deadline_seconds

        async def one_client() -> None:
            nonlocal next_index
            while next_index < count and time.perf_counter() < stop_at:
                index = next_index
                next_index += 1
                if rate > 0:
                    await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
                sent = time.perf_counter()
                try:
                    failure = await send(client, index)
                except httpx.HTTPError as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                result.latencies.append(time.perf_counter() - sent)
                result.requests += 1
                if failure is not None:
                    result.errors += 1
                    result.first_error = result.first_error or failure

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        result.wall_seconds = time.perf_counter() - started
    return result


# ---------------------------------------------------------------- statistics and output


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of values in seconds, as milliseconds rounded to 0.1 ms."""
    return {
        name: round(1000 * value, 1)
        for name, value in (
            ("p50", percentile(values, 50)),
            ("p95", percentile(values, 95)),
            ("p99", percentile(values, 99)),
            ("max", max(values) if values else math.nan),
        )
    }


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so the output can be pasted into docs/performance.md as it is."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def write_json(name: str, data: dict[str, Any]) -> Path:
    """Keep the raw figures next to the benchmarks (bench/results/ is not committed)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


PG_ADMIN = os.environ.get("LAUREL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
"""Where throw-away PostgreSQL databases are created (never the shared ``test`` database)."""


@contextlib.contextmanager
def throwaway(kind: str, name: str) -> Iterator[Any]:
    """A fresh, empty ``laurel.db.Database`` of ``kind`` (``sqlite`` or ``postgresql``) named
    after ``name``, removed afterwards. Laurel is imported here, not at the top: the
    subprocess benchmarks may run another revision's code."""
    import shutil

    import psycopg

    from laurel.db import Database

    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix=f"laurel-bench-{name}-")
        db = Database(f"sqlite:///{folder}/{name}.db")
        try:
            yield db
        finally:
            db.dispose()
            shutil.rmtree(folder, ignore_errors=True)
        return
    database = f"laurel_bench_{name}_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    db = Database(PG_ADMIN.rsplit("/", 1)[0] + f"/{database}")
    try:
        yield db
    finally:
        db.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
