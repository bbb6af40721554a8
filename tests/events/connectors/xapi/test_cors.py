"""xAPI content in a browser posts to Laurel from another origin (the LMS's page): the CORS
preflight and answer, in Debian's Chromium, and the origin allow-list."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import basic, statement
from tests.events.connectors.xapi.test_api import event_of
from tests.links.server import serve

CHROMIUM = Path("/usr/bin/chromium")

# What an authoring tool's exported course does with the endpoint and key it was launched with
# (TinCanJS, xAPIWrapper): a fetch with Basic auth and the version header.
CONTENT = """<!doctype html><title>Course</title><pre id="out">sending</pre><script>
fetch(ENDPOINT + "statements", {
  method: "POST",
  headers: {"Authorization": AUTH, "X-Experience-API-Version": "1.0.3",
            "Content-Type": "application/json"},
  body: JSON.stringify(STATEMENT),
}).then(async (r) => {
  const ids = await r.json();
  document.getElementById("out").textContent =
    r.status + " " + r.headers.get("X-Experience-API-Version") + " " + ids[0];
}).catch((e) => { document.getElementById("out").textContent = "blocked " + e; });
</script>"""


@contextmanager
def _content_site(page: str) -> Iterator[str]:
    """The LMS's page, served from an origin of its own (``localhost``, not ``127.0.0.1``)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package")
def test_browser_content_on_another_origin_posts_a_statement(
    tenant: Tenant, database: Database, settings: Settings, providers: ProviderRegistry
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    body = statement("completed", timestamp=utcnow().isoformat())
    auth = basic(tenant.live_key)["Authorization"]
    with serve(create_app(settings, database, providers=providers)) as laurel:
        script = (
            CONTENT.replace("ENDPOINT", repr(laurel + "/xapi/"))
            .replace("AUTH", repr(auth))
            .replace("STATEMENT", json.dumps(body))
        )
        with _content_site(script) as site, playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.goto(site + "/course")
                page.wait_for_function("document.getElementById('out').textContent !== 'sending'")
                answer = page.locator("#out").inner_text()
            finally:
                browser.close()
    assert answer == f"200 1.0.3 {body['id']}"
    event = event_of(database, body["id"])
    assert event is not None
    assert event.outcome == "completed"


def _preflight(client: TestClient, origin: str, path: str = "/xapi/statements") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-experience-api-version",
        },
    )


def test_only_listed_origins_and_only_xapi_paths(
    tenant: Tenant, database: Database, settings: Settings, providers: ProviderRegistry
) -> None:
    listed = settings.model_copy(update={"xapi_cors_origins": ["https://lms.example.com/"]})
    with TestClient(create_app(listed, database, providers=providers)) as client:
        ok = client.options(
            "/xapi/statements",
            headers={
                "Origin": "https://LMS.example.com",
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization,x-experience-api-version",
            },
        )
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == "https://LMS.example.com"
        assert ok.headers["access-control-allow-methods"] == "GET, HEAD, POST, PUT, OPTIONS"
        assert (
            ok.headers["access-control-allow-headers"] == "authorization,x-experience-api-version"
        )
        assert ok.headers["vary"] == "Origin"

        refused = _preflight(client, "https://evil.example.net")
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers

        headers = basic(tenant.live_key)
        body = statement("completed", timestamp=utcnow().isoformat())
        sent = client.post(
            "/xapi/statements", json=body, headers=headers | {"Origin": "https://lms.example.com"}
        )
        assert sent.status_code == 200, sent.text
        assert sent.headers["access-control-allow-origin"] == "https://lms.example.com"
        assert "X-Experience-API-Version" in sent.headers["access-control-expose-headers"]
        # Refusals carry the headers too, so the content can read why.
        unauthorized = client.post(
            "/xapi/statements", json=body, headers={"Origin": "https://lms.example.com"}
        )
        assert unauthorized.status_code == 401
        assert unauthorized.headers["access-control-allow-origin"] == "https://lms.example.com"
        other = client.post(
            "/xapi/statements", json=body, headers=headers | {"Origin": "https://evil.example.net"}
        )
        assert other.status_code == 200  # a server could send it too; the browser hides it
        assert "access-control-allow-origin" not in other.headers
        # Without an Origin (every server-side sender) nothing changes.
        plain = client.post("/xapi/statements", json=body, headers=headers)
        assert plain.status_code == 200
        assert "access-control-allow-origin" not in plain.headers
        # The API and the dashboard never answer cross-origin requests.
        api = _preflight(client, "https://lms.example.com", "/api/v1/completions")
        assert "access-control-allow-origin" not in api.headers

    closed = settings.model_copy(update={"xapi_cors_origins": []})
    with TestClient(create_app(closed, database, providers=providers)) as client:
        assert _preflight(client, "https://lms.example.com").status_code == 403
