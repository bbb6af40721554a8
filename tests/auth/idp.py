"""A real OpenID Connect provider on loopback, for the SSO tests.

It serves a discovery document, a JWKS, an authorization endpoint (which approves at once, as
an IdP with a signed-in user would) and a token endpoint that checks the client secret, the
redirect URI and the PKCE verifier, and answers with an RS256-signed ID token. Tests change
``claims`` (or ``sign_with``) to make it misbehave.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str


@dataclass
class Provider:
    client_id: str = "laurel-client"
    client_secret: str = "s3cret-of-the-client"
    subject: str = "00u1ana"
    email: str = "ana@acme.test"
    groups: list[str] = field(default_factory=lambda: ["Laurel Finance"])
    claims: dict[str, Any] = field(default_factory=dict)
    """Overrides of the ID token's claims (``None`` removes one)."""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    sign_with: RSAKey | None = None
    grants: dict[str, Grant] = field(default_factory=dict)
    pkce_verified: int = 0
    url: str = ""

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": self.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "email": self.email,
            "email_verified": True,
            "name": "Ana Díaz",
            "groups": self.groups,
            "department": ["Sales"],
        }
        for name, value in self.claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.sign_with or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid or "k1"}, claims, key)


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": provider.url,
                        "authorization_endpoint": f"{provider.url}/authorize",
                        "token_endpoint": f"{provider.url}/token",
                        "jwks_uri": f"{provider.url}/jwks",
                        "response_types_supported": ["code"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                    },
                )
            elif url.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if (
                    query.get("response_type") != "code"
                    or query.get("client_id") != provider.client_id
                    or query.get("code_challenge_method") != "S256"
                    or "openid" not in query.get("scope", "").split()
                ):
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                provider.grants[code] = Grant(
                    client_id=query["client_id"],
                    redirect_uri=query["redirect_uri"],
                    nonce=query["nonce"],
                    challenge=query["code_challenge"],
                )
                target = (
                    query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if urlparse(self.path).path != "/token":
                self._json(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            expected = base64.b64encode(
                f"{provider.client_id}:{provider.client_secret}".encode()
            ).decode()
            if self.headers.get("Authorization") != f"Basic {expected}":
                self._json(401, {"error": "invalid_client"})
                return
            grant = provider.grants.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != grant.redirect_uri:
                self._json(400, {"error": "invalid_grant"})
                return
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if challenge != grant.challenge:
                self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                return
            provider.pkce_verified += 1
            self._json(
                200,
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": provider.id_token(grant),
                },
            )

    return Handler


class Running:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
        provider.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        return self.provider

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
