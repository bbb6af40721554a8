"""Keyset pagination over time-ordered UUID keys: newest first, stable under inserts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: uuid.UUID | None


def paginate(
    session: Session,
    query: Select[T],
    key: InstrumentedAttribute[Any],
    *,
    limit: int,
    cursor: uuid.UUID | None,
) -> Page[T]:
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor is not None:
        query = query.where(key < cursor)
    rows = list(session.scalars(query.order_by(key.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last = getattr(rows[-1], key.key) if more and rows else None
    return Page(items=rows, next_cursor=last)
