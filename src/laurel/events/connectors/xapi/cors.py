"""Cross-origin requests to the xAPI endpoints (xAPI 1.0.3 Communication 1.3).

Most xAPI content runs in a browser: a course exported from an authoring tool (Storyline, Rise,
Captivate, anything built on TinCanJS or xAPIWrapper) is launched with the LRS endpoint and a
key, and posts its statements from the LMS's origin straight to Laurel's. A browser only sends
such a request after a preflight (``OPTIONS`` naming the method and the headers it wants, such
as ``Authorization`` and ``X-Experience-API-Version``) that the LRS answers with the CORS
headers, and only lets the content read the answer when it carries them as well.

Only ``/xapi/`` paths answer cross-origin requests; the API and the dashboard (which signs in
with a cookie) never do. No credentials mode: the content sends its key in ``Authorization``,
never a cookie, so a request from any allowed origin gets exactly what the same request from a
server would. ``LAUREL_XAPI_CORS_ORIGINS`` lists the allowed origins (default every origin,
``["*"]``; ``[]`` turns cross-origin access off).

A plain ASGI middleware, not ``BaseHTTPMiddleware``: requests without an ``Origin`` header (every
server-side sender) pass through it untouched, at the cost of one header look-up.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/xapi/"
ALLOWED_METHODS = "GET, HEAD, POST, PUT, OPTIONS"
# Headers the content may read from an answer (beyond the CORS-safelisted ones).
EXPOSED_HEADERS = "X-Experience-API-Version, ETag, Last-Modified, Location, Content-Type"
MAX_AGE = "86400"


class XapiCors:
    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        allowed = [o.strip().rstrip("/") for o in origins if o.strip()]
        self.any_origin = "*" in allowed
        self.origins = frozenset(o.lower() for o in allowed)

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/").lower() in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin_raw = headers.get(b"origin")
        if origin_raw is None:
            await self.app(scope, receive, send)
            return
        origin = origin_raw.decode("latin-1")
        preflight = scope["method"] == "OPTIONS" and b"access-control-request-method" in headers
        if preflight:
            await self._preflight(origin, headers, send)
            return
        if not self.allows(origin):
            # No CORS headers: the browser keeps the answer from the content.
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self._answer_headers(origin)]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _answer_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
            (b"vary", b"Origin"),
        ]

    async def _preflight(self, origin: str, headers: dict[bytes, bytes], send: Send) -> None:
        if not self.allows(origin):
            body = f"origin {origin} may not call the xAPI endpoints (LAUREL_XAPI_CORS_ORIGINS)"
            await _answer(send, 403, [(b"content-type", b"text/plain; charset=utf-8")], body)
            return
        # The content asks for the headers it will send; they are all harmless to allow (the
        # key in Authorization is what authenticates, as it would from a server).
        wanted = headers.get(b"access-control-request-headers", b"")
        answer = [
            *self._answer_headers(origin),
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
        ]
        if wanted:
            answer.append((b"access-control-allow-headers", wanted))
        await _answer(send, 204, answer, "")


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: str) -> None:
    content = body.encode()
    headers = [*headers, (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
