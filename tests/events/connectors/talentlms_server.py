"""A loopback HTTP server that imitates the TalentLMS REST API v1 endpoints Laurel polls.

``GET /api/v1/courses``, ``GET /api/v1/courses/id:{id}`` (with ``users``) and
``GET /api/v1/users/id:{id}``, behind Basic auth with the API key as user name and an empty
password, answering as TalentLMS does (JSON, 401 with an error object for a bad key).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
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

    def enrol(self, course_id: str, user_id: str, completed: int | None) -> None:
        """Enrol a user; ``completed`` is the Unix time of completion (None: not yet)."""
        users = self.courses[course_id]["users"]
        users[:] = [u for u in users if u["id"] != user_id]
        users.append(
            {
                "id": user_id,
                "name": f"{self.users[user_id]['first_name']} Learner",
                "role": "learner",
                "enrolled_on": "26/10/2026, 09:00:00",
                "enrolled_on_timestamp": "1793005200",
                "completed_on": "" if completed is None else "26/11/2026, 10:00:00",
                "completed_on_timestamp": "" if completed is None else str(completed),
                "completion_percentage": "100" if completed is not None else "40",
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

        def _send(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            api.requests.append(self.path)
            api.hit.set()
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
