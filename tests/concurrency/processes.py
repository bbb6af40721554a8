"""Real `laurel` OS processes for the concurrency tests, on loopback, always reaped.

Every process writes its stdout and stderr to a log file under the test's temporary directory;
assertion messages quote the end of it, so a failure in CI shows what the process said.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# The installed `laurel` command, as operators run it (`python -m laurel` where no script exists).
_SCRIPT = Path(sys.executable).with_name("laurel")
LAUREL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "laurel"]

_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def laurel_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a child process: this one's, minus any LAUREL_* left over, plus ours.

    Keyword arguments are settings without the prefix: ``worker_lease_seconds="1"``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env |= {
        "LAUREL_DATABASE_URL": database_url,
        "LAUREL_ENVIRONMENT": "test",
        "LAUREL_LOG_LEVEL": "INFO",
        "LAUREL_WORKER_POLL_SECONDS": "0.05",
    }
    env |= {f"LAUREL_{name.upper()}": value for name, value in settings.items()}
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 40) -> str:
        return f"--- {self.name} (pid {self.pid}) said:\n" + "\n".join(
            self.output().splitlines()[-lines:]
        )

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout}s\n{self.tail()}"
            ) from None

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit code; fails the test if the process does not stop in time."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)


@dataclass
class Processes:
    """Starts processes for one test and kills whatever is still running at its end."""

    directory: Path
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        log = self.directory / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def worker(self, database_url: str, name: str = "worker", **settings: str) -> Process:
        return self.start(name, [*LAUREL, "worker"], laurel_env(database_url, **settings))

    def serve(self, database_url: str, *args: str, **settings: str) -> tuple[Process, str]:
        """`laurel serve` on a free loopback port (the kernel picks it); returns its base URL."""
        process = self.start(
            "serve",
            [*LAUREL, "serve", "--host", "127.0.0.1", "--port", "0", *args],
            laurel_env(database_url, **settings),
        )
        found: list[str] = []

        def listening() -> bool:
            match = _LISTENING.search(process.output())
            if match:
                found.append(match.group(1))
            return bool(match)

        eventually(listening, timeout=60, what="laurel serve to listen", watch=[process])
        return process, f"http://127.0.0.1:{found[0]}"

    def close(self) -> None:
        for process in self.started:
            if process.running():
                process.popen.kill()
                process.popen.wait(10)


def eventually(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    watch: list[Process] | None = None,
    interval: float = 0.05,
) -> float:
    """Wait until ``condition()`` holds; returns the seconds it took.

    Fails at once when a watched process exits (it would never make the condition true) and
    after ``timeout`` seconds otherwise, quoting the watched processes' logs.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if condition():
            return time.monotonic() - started
        for process in watch or []:
            if not process.running():
                raise AssertionError(
                    f"{process.name} exited with {process.popen.returncode} while waiting for "
                    f"{what}\n{process.tail()}"
                )
        if time.monotonic() > deadline:
            logs = "\n".join(p.tail() for p in watch or [])
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
        time.sleep(interval)
