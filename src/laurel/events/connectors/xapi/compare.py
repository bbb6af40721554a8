"""Statement comparison (xAPI Data 2.3.1, "Statement Comparison Requirements").

Two serializations of one statement may differ where the specification lets them: the
properties an LRS assigns (``id`` when it was absent, ``stored``, ``authority``, ``timestamp``,
``version``), the Activity Definitions and Verb displays an LRS may answer differently, the
representation of a timestamp (zone, precision), the order of a Group's members, attachments,
and the case of case-insensitive values (UUIDs, the domain of an e-mail address). Those
differences are ignored: :func:`equivalent` compares everything else.

Used where the specification asks for it: a signed statement's JWS payload against the
statement it came with (Data 2.6).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from laurel.events.connectors.xapi.validation import parse_timestamp
from laurel.kit.canonical import canonical_json

_AGENT_KINDS = frozenset({"Agent", "Group"})


def equivalent(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two statements are the same statement under Data 2.3.1."""
    return canonical_json(_statement(one, other)) == canonical_json(_statement(other, one))


def _statement(value: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in {"stored", "authority", "version", "attachments"}:
            continue
        if key in {"id", "timestamp"} and key not in other:
            continue  # assigned by an LRS on one side only
        out[key] = item
    if isinstance(out.get("id"), str):
        out["id"] = out["id"].lower()
    if isinstance(out.get("timestamp"), str):
        out["timestamp"] = _instant(out["timestamp"])
    if "actor" in out:
        out["actor"] = _agent(out["actor"])
    if isinstance(out.get("verb"), dict):
        out["verb"] = {"id": out["verb"].get("id")}
    if "object" in out:
        inner = other.get("object")
        out["object"] = _object(out["object"], inner if isinstance(inner, dict) else {})
    if isinstance(out.get("context"), dict):
        out["context"] = _context(out["context"])
    return _numbers(out)  # type: ignore[no-any-return]


def _object(value: Any, other: dict[str, Any]) -> Any:
    if not isinstance(value, dict):
        return value
    kind = value.get("objectType", "Activity")
    if not isinstance(kind, str):  # a signed payload is not validated: a list is unhashable
        return value
    if kind == "Activity":
        return {"objectType": "Activity", "id": value.get("id")}
    if kind in _AGENT_KINDS:
        return _agent(value)
    if kind == "StatementRef":
        found = value.get("id")
        return {"objectType": kind, "id": found.lower() if isinstance(found, str) else found}
    if kind == "SubStatement":
        sub = _statement(value, other)
        sub.pop("id", None)
        return sub
    return value


def _agent(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = dict(value)
    out.setdefault("objectType", "Agent")
    mbox = out.get("mbox")
    if isinstance(mbox, str) and "@" in mbox:
        local, _, domain = mbox.rpartition("@")
        out["mbox"] = f"{local}@{domain.lower()}"
    if isinstance(out.get("member"), list):
        members = [_agent(m) for m in out["member"]]
        out["member"] = sorted(members, key=canonical_json)
    return out


def _context(value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    if isinstance(out.get("registration"), str):
        out["registration"] = out["registration"].lower()
    for key in ("instructor", "team"):
        if key in out:
            out[key] = _agent(out[key])
    if isinstance(out.get("statement"), dict):
        out["statement"] = _object(out["statement"], {})
    activities = out.get("contextActivities")
    if isinstance(activities, dict):
        out["contextActivities"] = {
            kind: [_object(a, {}) for a in (found if isinstance(found, list) else [found])]
            for kind, found in activities.items()
        }
    return out


def _instant(text: str) -> str:
    """One representation of a timestamp: the same instant in UTC, to the microsecond."""
    try:
        return parse_timestamp(text).astimezone(UTC).isoformat()
    except ValueError:
        return text


def _numbers(value: Any) -> Any:
    """1 and 1.0 are one JSON number (clients re-write scores as floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value
