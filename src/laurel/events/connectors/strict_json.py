"""JSON parsing for standards endpoints, which must refuse what ``json.loads`` lets through.

A duplicate key is resolved silently by ``json.loads`` (the last one wins), so two readers of
one statement could disagree on its actor or score; xAPI conformance demands a refusal. ``NaN``
and ``Infinity`` are not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

from laurel.kit.errors import AppError


class MalformedJson(AppError):
    status = 400
    code = "malformed_json"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(body: bytes) -> Any:
    """Parse ``body`` or raise ``MalformedJson`` saying where and why."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    if not text.strip():
        raise MalformedJson("the body is empty")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise MalformedJson(
            f"not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise MalformedJson(f"not valid JSON: {exc}") from None
