"""A generated completion report imported end to end, beside a bare bulk insert of its rows.

    python -m bench.batch_import --rows 50000

In one temporary SQLite database (migrated, one organization, one fixed-amount program that was
in force for every row's completion date):

- ``baseline``: the CSV read with ``csv.reader`` and its rows bulk-inserted (``executemany``,
  1,000 rows per transaction) into a plain table of the same database: the floor for "rows into
  this database".
- ``parse``: the same file read and every row validated into an event in memory, nothing
  stored: the importer's own share of the work.
- ``import``: ``laurel import completions`` as a real child process: every row parsed and
  validated, stored as an event through ``events.service.ingest_many``, decided, gated and left
  as a ready reward. Its peak resident memory is the child's ``ru_maxrss``.

Every row names a distinct learner (so every row pays) over 20 courses. The run checks that the
file produced exactly one event and one ready reward per row.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update

from bench import harness

TARGET_SECONDS = 30.0
TARGET_RATIO = 5.0
TARGET_RSS_MIB = 400.0
HEADERS = [
    "User ID",
    "Email",
    "Full Name",
    "Course Code",
    "Course Title",
    "Completion Date",
    "Score",
    "Department",
    "Country",
]


def generate(path: Path, rows: int) -> None:
    from laurel.kit.clock import utcnow

    start = utcnow() - timedelta(days=20)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for n in range(rows):
            when = (start + timedelta(seconds=17 * n)).replace(microsecond=0)
            writer.writerow(
                [
                    f"B{n:07d}",
                    f"b{n}@example.com",
                    f"Learner {n}",
                    f"C-{n % 20:02d}",
                    f"Course {n % 20}",
                    when.isoformat(),
                    str(50 + n % 50),
                    "Sales",
                    "US",
                ]
            )


def prepare(database_url: str) -> str:
    """Migrate, create the organization and a program in force since before the rows."""
    from laurel import migrate
    from laurel.db import Database
    from laurel.kit.actor import Actor
    from laurel.kit.clock import utcnow
    from laurel.organizations import service as organizations
    from laurel.organizations.models import Organization
    from laurel.programs import schemas
    from laurel.programs import service as programs
    from laurel.programs.models import ProgramVersion, RewardRuleVersion

    database = Database(database_url)
    migrate.upgrade(database)
    with database.session() as session:
        org = organizations.create(session, slug="bench", name="Bench", actor="bench")
        actor = Actor(name="bench", organization_id=org.id, scopes=frozenset({"admin"}))
        programs.create_program(
            session,
            actor,
            schemas.ProgramCreate.model_validate(
                {
                    "key": "bench",
                    "name": "Bench",
                    "currency": "USD",
                    "rules": [
                        {
                            "value": {
                                "kind": "fixed",
                                "amount": {"amount": "10.00", "currency": "USD"},
                            }
                        }
                    ],
                }
            ),
            "USD",
        )
    past = utcnow() - timedelta(days=60)
    with database.session() as session:
        session.execute(update(ProgramVersion).values(effective_from=past))
        session.execute(update(RewardRuleVersion).values(effective_from=past))
        session.execute(
            update(Organization).values(config_revision=Organization.config_revision + 1)
        )
    database.dispose()
    return "bench"


def baseline(database_url: str, path: Path) -> float:
    from laurel.db import Database

    database = Database(database_url)
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, learner TEXT, email TEXT, "
                "name TEXT, course TEXT, title TEXT, completed TEXT, score TEXT, department TEXT, "
                "country TEXT)"
            )
        )
    insert = text(
        "INSERT INTO bench_rows (learner, email, name, course, title, completed, score, "
        "department, country) VALUES (:a, :b, :c, :d, :e, :f, :g, :h, :i)"
    )
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        batch: list[dict[str, str]] = []
        for row in reader:
            batch.append(dict(zip("abcdefghi", row, strict=True)))
            if len(batch) == 1000:
                with database.engine.begin() as conn:
                    conn.execute(insert, batch)
                batch = []
        if batch:
            with database.engine.begin() as conn:
                conn.execute(insert, batch)
    elapsed = time.perf_counter() - started
    database.dispose()
    return elapsed


def parse_only(path: Path) -> float:
    """The importer's own per-row work (read, detect, validate, build the event) without storing:
    what is left of the import's time after this is intake (``ingest_many``) and commits."""
    from laurel.imports import parse
    from laurel.imports.columns import resolve
    from laurel.imports.models import FileFormat, ImportKind
    from laurel.imports.readers import open_table

    started = time.perf_counter()
    with open_table(path, FileFormat.csv) as table:
        columns = resolve(ImportKind.completions, table.headers, {})
        options = parse.Options()
        for row in table.rows:
            parse.completion(row, columns, table.headers, options)
    return time.perf_counter() - started


def run_import(
    database_url: str, path: Path, org: str, chunk_rows: int
) -> tuple[float, float, float]:
    """Wall seconds, peak resident MiB and CPU seconds (user + system) of the import process.

    The CPU seconds are what to compare between runs on a shared machine: other processes
    stretch the wall time, much less the import's own CPU."""
    env = os.environ | {"LAUREL_DATABASE_URL": database_url, "LAUREL_LOG_LEVEL": "WARNING"}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_maxrss
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "laurel",
            "import",
            "completions",
            str(path),
            "--org",
            org,
            "--chunk-rows",
            str(chunk_rows),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr[-2000:]}")
    print(f"  {done.stdout.strip()}", file=sys.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    # ru_maxrss of children is the largest child so far; the import is the only big one.
    return elapsed, max(usage.ru_maxrss, before) / 1024, cpu


def check(database_url: str, rows: int) -> dict[str, int]:
    from laurel.db import Database
    from laurel.events.models import CompletionEvent
    from laurel.rewards.models import Reward

    database = Database(database_url)
    with database.read_session() as session:
        events = session.scalar(select(func.count()).select_from(CompletionEvent)) or 0
        ready = (
            session.scalar(select(func.count()).select_from(Reward).where(Reward.state == "ready"))
            or 0
        )
    database.dispose()
    if events != rows or ready != rows:
        raise SystemExit(f"expected {rows} events and ready rewards, got {events} and {ready}")
    return {"events": events, "ready_rewards": ready}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--chunk-rows", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-import-bench-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "completions.csv"
        url = f"sqlite:///{folder / 'laurel.db'}"
        generate(csv_path, args.rows)
        org = prepare(url)
        print(f"load average before: {harness.load_average()}", file=sys.stderr)
        base_seconds = baseline(url, csv_path)
        parse_seconds = parse_only(csv_path)
        import_seconds, peak_mib, import_cpu = run_import(url, csv_path, org, args.chunk_rows)
        verified = check(url, args.rows)
        size_mib = csv_path.stat().st_size / 1024 / 1024
    ratio = import_seconds / base_seconds
    rows = [
        ["baseline (csv → executemany)", args.rows, base_seconds, args.rows / base_seconds, "-"],
        ["parse only (no database)", args.rows, parse_seconds, args.rows / parse_seconds, "-"],
        [
            "laurel import completions",
            args.rows,
            import_seconds,
            args.rows / import_seconds,
            peak_mib,
        ],
    ]
    print(harness.table(["phase", "rows", "seconds", "rows/s", "peak RSS MiB"], rows))
    print(
        f"\nfile {size_mib:.1f} MiB; import/baseline time ratio {ratio:.1f}× (target ≤ "
        f"{TARGET_RATIO:.0f}×); whole file {import_seconds:.1f} s "
        f"(target ≤ {TARGET_SECONDS:.0f} s);"
        f" peak RSS {peak_mib:.0f} MiB (target < {TARGET_RSS_MIB:.0f}); import CPU "
        f"{import_cpu:.1f} s ({1000 * import_cpu / args.rows:.3f} ms per row)"
    )
    data: dict[str, Any] = {
        "rows": args.rows,
        "chunk_rows": args.chunk_rows,
        "baseline_seconds": base_seconds,
        "parse_seconds": parse_seconds,
        "import_seconds": import_seconds,
        "import_cpu_seconds": import_cpu,
        "ratio": ratio,
        "peak_rss_mib": peak_mib,
        "verified": verified,
        "machine": harness.machine(),
        "load_average": harness.load_average(),
    }
    print(f"load average after: {harness.load_average()}", file=sys.stderr)
    print(f"raw results: {harness.write_json('batch_import', data)}", file=sys.stderr)


if __name__ == "__main__":
    main()
