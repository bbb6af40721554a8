"""A loopback HTTP server that imitates the TalentLMS REST API v1 endpoints Laurel polls.

``GET /api/v1/courses``, ``GET /api/v1/courses/id:{id}`` (with ``users``) and
``GET /api/v1/users/id:{id}``, behind Basic auth with the API key as user name and an empty
password, answering as TalentLMS does (JSON, 401 with an error object for a bad key, 429 with
``Retry-After`` past the rate limit).

Tests steer it: ``throttled`` (the next requests answer 429), ``failures`` (a path that always
fails), ``on_request`` (change the data while a poll runs) and ``clock`` (when each request
came, by the test's clock). ``auths`` records the key each request presented.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeTalentLms:
    api_key: str
    courses: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    hit: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    auths: list[str] = field(default_factory=list)
    """The API key each request presented ("" without Basic auth)."""
    times: list[float] = field(default_factory=list)
    """``clock()`` at each request, when a clock is set."""
    clock: Callable[[], float] | None = None
    throttled: int = 0
    """The next this many requests answer 429 with ``Retry-After: retry_after``."""
    retry_after: str = "5"
    failures: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    """Path → (status, headers) answered to every request for it (after the key check)."""
    on_request: Callable[[str], None] | None = None
    """Called with each path before it is answered (to change the data mid-poll)."""

    def course(self, course_id: str, name: str, code: str) -> None:
        self.courses[course_id] = {
            "id": course_id,
            "name": name,
            "code": code,
            "status": "active",
            "users": [],
        }

    def user(self, user_id: str, login: str, email: str) -> None:
        self.users[user_id] = {
            "id": user_id,
            "login": login,
            "first_name": login.title(),
            "last_name": "Learner",
            "email": email,
        }

    def enrol(
        self,
        course_id: str,
        user_id: str,
        completed: int | None,
        *,
        completed_on: str | None = None,
    ) -> None:
        """Enrol a user; ``completed`` is the Unix time of completion (None: not yet).

        ``completed_on`` overrides the portal-local completion text (with ``completed`` None:
        a completion TalentLMS gives no timestamp for)."""
        if completed_on is None:
            completed_on = "" if completed is None else "26/11/2026, 10:00:00"
        users = self.courses[course_id]["users"]
        users[:] = [u for u in users if u["id"] != user_id]
        users.append(
            {
                "id": user_id,
                "name": f"{self.users[user_id]['first_name']} Learner",
                "role": "learner",
                "enrolled_on": "26/10/2026, 09:00:00",
                "enrolled_on_timestamp": "1793005200",
                "completed_on": completed_on,
                "completed_on_timestamp": "" if completed is None else str(completed),
                "completion_percentage": "100" if completed_on else "40",
                "expired_on": "",
                "expired_on_timestamp": None,
                "total_time": "1h 5m",
                "total_time_seconds": 3900,
            }
        )


def _handler(api: FakeTalentLms) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # keep test output clean
            return

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def _key(self) -> str:
            header = self.headers.get("Authorization") or ""
            if not header.startswith("Basic "):
                return ""
            try:
                return base64.b64decode(header[6:]).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                return ""

        def do_GET(self) -> None:
            api.requests.append(self.path)
            api.auths.append(self._key())
            if api.clock is not None:
                api.times.append(api.clock())
            api.hit.set()
            if api.on_request is not None:
                api.on_request(self.path)
            if api.throttled > 0:
                api.throttled -= 1
                self._send(
                    429,
                    {"error": {"type": "rate_limit_error", "message": "Too many requests"}},
                    {"Retry-After": api.retry_after},
                )
                return
            expected = "Basic " + base64.b64encode(f"{api.api_key}:".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._send(
                    401,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "Invalid API key provided",
                        }
                    },
                )
                return
            if self.path in api.failures:
                status, headers = api.failures[self.path]
                self._send(status, {"error": {"type": "api_error", "message": "failed"}}, headers)
                return
            if self.path == "/api/v1/courses":
                self._send(
                    200,
                    [{k: v for k, v in c.items() if k != "users"} for c in api.courses.values()],
                )
                return
            found = re.fullmatch(r"/api/v1/(courses|users)/id:(\w+)", self.path)
            table = api.courses if found and found[1] == "courses" else api.users
            if found and found[2] in table:
                self._send(200, table[found[2]])
                return
            self._send(404, {"error": {"type": "invalid_request_error", "message": "not found"}})

    return Handler


@contextmanager
def serve(api: FakeTalentLms) -> Iterator[FakeTalentLms]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
