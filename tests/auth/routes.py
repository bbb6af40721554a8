"""Every route of the application, and a way to call any of them with made-up parameters."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")

# Path parameters that are names, not ids: a value each route accepts.
NAMED = {
    "connector": "moodle",
    "kind": "completions",
    "name": "default",
    "organization": "acme",
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route, in the OpenAPI document or not."""
    found: set[tuple[str, str]] = set()
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with lazily included routers
    except ImportError:  # pragma: no cover - older FastAPI: routes are flat
        for route in app.routes:
            if isinstance(route, APIRoute):
                found |= {(m, route.path_format) for m in route.methods or ()}
        return found
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            found |= {(m, str(context.path_format)) for m in context.methods or ()}
    return found


def openapi_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def fill(path: str, ids: Mapping[str, str] | None = None) -> str:
    """The path with each parameter given a value: ``ids`` first, then a fresh UUID."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if ids and name in ids:
            return ids[name]
        return NAMED.get(name, str(uuid.uuid4()))

    return _PARAM.sub(value, path)


def call(
    client: TestClient,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> Any:
    kwargs: dict[str, Any] = {"headers": dict(headers or {})}
    if method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {} if body is None else body
    return client.request(method, path, follow_redirects=False, **kwargs)
