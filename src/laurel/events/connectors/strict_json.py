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
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise MalformedJson(
            f"not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise MalformedJson(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJson(f"the JSON nests deeper than {MAX_DEPTH} levels") from None
    if _too_deep(body, value):
        raise MalformedJson(f"the JSON nests deeper than {MAX_DEPTH} levels")
    return value


MAX_DEPTH = 64
"""Deeper documents are refused: every later step (validation, hashing, sealing) walks them,
some recursively, and no LMS payload comes near this."""


def _too_deep(raw: bytes | str, value: Any) -> bool:
    """Whether ``value``, parsed from ``raw``, nests deeper than ``MAX_DEPTH``. Counting the
    brackets of ``raw`` is cheap: only a document with more of them than that is walked."""
    if isinstance(raw, bytes):
        brackets = raw.count(b"[") + raw.count(b"{")
    else:
        brackets = raw.count("[") + raw.count("{")
    return brackets > MAX_DEPTH and not _within_depth(value)


def _within_depth(value: Any) -> bool:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, dict):
            pending.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            pending.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return True


def lenient(raw: bytes | str) -> Any:
    """``json.loads`` for what webhook senders write (duplicate keys allowed, the last wins;
    ``NaN`` read), refusing with ``ValueError`` only a document nested deeper than
    ``MAX_DEPTH``, which would otherwise end in a ``RecursionError`` somewhere later."""
    try:
        value = json.loads(raw)
    except RecursionError:
        value = None
    else:
        if not _too_deep(raw, value):
            return value
    raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
