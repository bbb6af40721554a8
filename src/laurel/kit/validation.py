"""Turns Pydantic's errors into the API's shape: one entry per bad field, with why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _path(loc: Sequence[Any], prefix: str | None) -> str:
    parts: list[str] = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{item}]"
            else:
                parts.append(f"[{item}]")
        else:
            parts.append(str(item))
    return ".".join(parts) or "(body)"


def describe_errors(
    errors: Sequence[Any], *, prefix: str | None = None, strip: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """``[{"field": "learner.external_id", "message": "Field required", "type": "missing"}]``."""
    out = []
    for err in errors:
        loc = list(err.get("loc", ()))
        while loc and loc[0] in strip:
            loc.pop(0)
        # Tagged unions add the tag as a path step; people do not write it.
        loc = [p for p in loc if p not in {"fixed", "four_factor"}]
        if err.get("type") == "json_invalid":
            # Pydantic puts the character offset in the path; it belongs in the message.
            ctx = err.get("ctx") or {}
            out.append(
                {
                    "field": "(body)",
                    "type": "json_invalid",
                    "message": f"not valid JSON: {ctx.get('error', 'parse error')} "
                    f"at character {loc[0] if loc else '?'}",
                }
            )
            continue
        message = str(err.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        out.append(
            {"field": _path(loc, prefix), "message": message, "type": err.get("type", "invalid")}
        )
    return out
