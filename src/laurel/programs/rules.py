"""Pure decision logic: eligibility, rule matching and the four-factor value. No I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from laurel.kit.money import Money

ONE = Decimal(1)

# Time investment from course length: a few minutes is 1.0, a week-long course 5.0.
_TIME_STEPS: tuple[tuple[int, Decimal], ...] = (
    (30, Decimal("1.0")),
    (60, Decimal("1.5")),
    (120, Decimal("2.0")),
    (240, Decimal("2.5")),
    (480, Decimal("3.0")),
    (960, Decimal("4.0")),
)


@dataclass(frozen=True, slots=True)
class Subject:
    """What a decision looks at: the learner, the course and the completion."""

    classification: str
    department: str | None
    country: str | None
    course_external_id: str
    course_type: str
    course_tags: tuple[str, ...]
    course_importance: str | None
    course_duration_minutes: int | None
    outcome: str
    score: float | None
    occurred_at: datetime


def time_investment(duration_minutes: int | None) -> Decimal:
    if duration_minutes is None:
        return ONE
    for limit, factor in _TIME_STEPS:
        if duration_minutes <= limit:
            return factor
    return Decimal("5.0")


def eligibility_failure(eligibility: dict[str, Any], subject: Subject) -> str | None:
    """Why the learner may not earn from this program, or None when they may."""
    classes = eligibility.get("classifications") or []
    if classes and subject.classification not in classes:
        return f"classification {subject.classification} is not eligible"
    departments = eligibility.get("departments") or []
    if departments and subject.department not in departments:
        return f"department {subject.department or '(none)'} is not eligible"
    countries = eligibility.get("countries") or []
    if countries and subject.country not in countries:
        return f"country {subject.country or '(none)'} is not eligible"
    starts, ends = eligibility.get("starts_at"), eligibility.get("ends_at")
    when = subject.occurred_at
    if starts and when < datetime.fromisoformat(starts):
        return "completed before the program window opened"
    if ends and when >= datetime.fromisoformat(ends):
        return "completed after the program window closed"
    return None


def matches(conditions: dict[str, Any], subject: Subject) -> bool:
    checks: list[tuple[str, Any]] = [
        ("course_ids", subject.course_external_id),
        ("course_types", subject.course_type),
        ("outcomes", subject.outcome),
        ("classifications", subject.classification),
        ("departments", subject.department),
        ("countries", subject.country),
    ]
    for name, value in checks:
        allowed = conditions.get(name) or []
        if allowed and value not in allowed:
            return False
    tags = conditions.get("tags") or []
    if tags and not set(tags) & set(subject.course_tags):
        return False
    min_score = conditions.get("min_score")
    # Compared as decimals from the score's shortest text form, so 0.9 meets a minimum of 0.9.
    return min_score is None or (
        subject.score is not None and Decimal(repr(subject.score)) >= Decimal(str(min_score))
    )


Eligibility = Callable[[Subject], "str | None"]
Conditions = Callable[[Subject], bool]


def eligibility_check(eligibility: dict[str, Any]) -> Eligibility | None:
    """``eligibility_failure`` for one program's eligibility, built once: None when it admits
    everyone (most programs), so a batch of events skips it. Same answers, same messages."""
    if not any(
        eligibility.get(name)
        for name in ("classifications", "departments", "countries", "starts_at", "ends_at")
    ):
        return None
    return lambda subject: eligibility_failure(eligibility, subject)


def conditions_check(conditions: dict[str, Any]) -> Conditions | None:
    """``matches`` for one rule's conditions, built once: None when the rule matches every
    completion. Only the conditions the rule sets are checked, in ``matches``'s order."""
    tests: list[Conditions] = []
    for name, field_name in (
        ("course_ids", "course_external_id"),
        ("course_types", "course_type"),
        ("outcomes", "outcome"),
        ("classifications", "classification"),
        ("departments", "department"),
        ("countries", "country"),
    ):
        allowed = conditions.get(name) or []
        if allowed:
            read = attrgetter(field_name)
            tests.append(_member(read, frozenset(allowed) if _hashable(allowed) else allowed))
    tags = conditions.get("tags") or []
    if tags:
        wanted = set(tags)
        tests.append(lambda subject: bool(wanted & set(subject.course_tags)))
    if conditions.get("min_score") is not None:
        minimum = Decimal(str(conditions["min_score"]))
        tests.append(
            lambda subject: subject.score is not None and Decimal(repr(subject.score)) >= minimum
        )
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda subject: all(test(subject) for test in tests)


def _hashable(values: Any) -> bool:
    return all(isinstance(v, str | int | float | bool) or v is None for v in values)


def _member(read: Callable[[Subject], Any], allowed: Any) -> Conditions:
    return lambda subject: read(subject) in allowed


@dataclass(frozen=True, slots=True)
class Valuation:
    amount: Money
    calculation: dict[str, Any]


def value_of(value: dict[str, Any], subject: Subject, segment_factors: dict[str, Any]) -> Valuation:
    """The reward amount a rule value gives for this subject, with how it was reached."""
    if value["kind"] == "fixed":
        amount = Money.parse(value["amount"]["amount"], value["amount"]["currency"])
        return Valuation(amount, {"kind": "fixed", "amount": amount.format_amount()})
    base = Money.parse(value["base"]["amount"], value["base"]["currency"])
    factors = {
        "importance": _factor(value.get("importance"), subject.course_importance),
        "time_investment": (
            Decimal(str(value["time_investment"]))
            if value.get("time_investment") is not None
            else time_investment(subject.course_duration_minutes)
        ),
        "behavioural_lift": _factor(value.get("behavioural_lift"), None),
        "segment": _factor(value.get("segment"), segment_factors.get(subject.classification)),
    }
    product = ONE
    for factor in factors.values():
        product *= factor
    raw = Money.from_decimal(base.as_decimal() * product, base.currency)
    amount, capped = raw, False
    cap = value.get("cap")
    if cap is not None:
        limit = Money.parse(cap["amount"], cap["currency"])
        if raw.minor > limit.minor:
            amount, capped = limit, True
    calculation = {
        "kind": "four_factor",
        "base": base.format_amount(),
        **{name: str(f) for name, f in factors.items()},
        "product": str(product),
        "uncapped": raw.format_amount(),
        "cap": cap["amount"] if cap else None,
        "capped": capped,
        "amount": amount.format_amount(),
    }
    return Valuation(amount, calculation)


def _factor(rule_value: Any, fallback: Any) -> Decimal:
    if rule_value is not None:
        return Decimal(str(rule_value))
    if fallback is not None:
        return Decimal(str(fallback))
    return ONE


def dedupe_key(period: str, occurred_at: datetime) -> str:
    """``once``, or the UTC calendar year, so one instant falls in one year whatever its offset."""
    return str(occurred_at.astimezone(UTC).year) if period == "calendar_year" else "once"
