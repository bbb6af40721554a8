"""Form posts to service input and service refusals to messages beside the fields.

A page's form fields are named after the schema's locations (``eligibility.countries``,
``value.amount``), so a refusal from Pydantic or from a service (``Invalid`` with its
``field``) lands next to the input it is about. The page re-renders with what was typed: no
valid input is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from laurel.kit.errors import AppError, Conflict

Values = dict[str, Any]
"""What the form shows: a field's text, or a list for multiple choices."""
Errors = dict[str, str]
"""Field name -> message; ``""`` for a message about the whole form."""

# Pydantic's wording for patterns is a regular expression; people get a sentence.
_PLAIN = {
    "key": "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
    "eligibility.countries": "use ISO 3166-1 alpha-2 codes in capitals, like US or DE",
    "conditions.countries": "use ISO 3166-1 alpha-2 codes in capitals, like US or DE",
}


def values_of(form: FormData, multi: Iterable[str] = ()) -> Values:
    """The posted fields as the page shows them again (lists for multiple choices)."""
    out: Values = {k: v.strip() if isinstance(v, str) else "" for k, v in form.items()}
    for name in multi:
        out[name] = [v for v in form.getlist(name) if isinstance(v, str)]
    out.pop("csrf_token", None)
    return out


def items(text: Any) -> list[str]:
    """A comma- or newline-separated list typed in one field."""
    if not isinstance(text, str):
        return []
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def moment(text: Any) -> str | None:
    """A ``datetime-local`` value, read as UTC (the pages say so), as ISO 8601 with its zone."""
    if not isinstance(text, str) or not text.strip():
        return None
    typed: str = text.strip()
    zone = typed[10:]
    if zone.endswith("Z") or "+" in zone or "-" in zone:
        return typed  # written with its own offset
    return f"{typed}:00+00:00" if len(typed) == 16 else f"{typed}+00:00"


def money(text: Any, currency: str) -> dict[str, str] | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return {"amount": text.strip(), "currency": currency}


def _field(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int) or part in {"fixed", "four_factor", "[key]"}:
            continue  # list positions and union tags: the message goes to the list's input
        parts.append(str(part))
    return ".".join(parts)


def _message(text: str) -> str:
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def from_validation(exc: ValidationError, rename: dict[str, str] | None = None) -> Errors:
    found: Errors = {}
    for error in exc.errors():
        name = _field(tuple(error["loc"]))
        name = (rename or {}).get(name, name)
        where = [p for p in error["loc"] if isinstance(p, int)]
        text = _PLAIN.get(name) if error["type"] == "string_pattern_mismatch" else None
        text = text or _message(str(error["msg"]))
        if where:
            text = f"item {where[0] + 1}: {text}"
        found.setdefault(name, text)
    return found


def from_app_error(exc: AppError, *, conflict_field: str = "") -> Errors:
    """A service's refusal: each ``Invalid`` field beside its input, a conflict beside
    ``conflict_field``, anything else above the form."""
    detail = exc.detail
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        found: Errors = {}
        for item in detail:
            # "budget.currency", "routes.gift_card.0": the input is "budget", "routes.gift_card"
            parts = str(item.get("field", "")).split(".")
            while len(parts) > 1 and (parts[-1].isdigit() or parts[-1] in {"currency", "amount"}):
                parts.pop()
            name = ".".join(parts)
            found.setdefault(name, str(item.get("message", "")))
        return found
    message = str(detail.get("message", detail)) if isinstance(detail, dict) else str(detail)
    if isinstance(exc, Conflict) and conflict_field:
        return {conflict_field: message}
    return {"": message}
