"""The decision logic on its own: eligibility, matching and the four-factor value."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laurel.programs import rules
from laurel.programs.rules import Subject

WHEN = datetime(2026, 11, 25, 10, tzinfo=UTC)
SUBJECT = Subject(
    classification="employee",
    department="Sales",
    country="US",
    course_external_id="SEC-101",
    course_type="compliance",
    course_tags=("security",),
    course_importance="2.0",
    course_duration_minutes=45,
    outcome="passed",
    score=0.92,
    occurred_at=WHEN,
)


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


@pytest.mark.parametrize(
    ("eligibility", "reason"),
    [
        ({}, None),
        ({"classifications": ["employee", "contractor"]}, None),
        ({"classifications": ["customer"]}, "classification employee"),
        ({"departments": ["Sales"]}, None),
        ({"departments": ["Finance"]}, "department Sales"),
        ({"countries": ["CA"]}, "country US"),
        ({"starts_at": "2026-11-25T10:00:00+00:00"}, None),
        ({"starts_at": "2026-11-25T10:00:01+00:00"}, "before the program window"),
        ({"ends_at": "2026-11-25T10:00:00+00:00"}, "after the program window"),
        ({"ends_at": "2026-12-01T00:00:00+00:00"}, None),
    ],
)
def test_eligibility(eligibility: dict[str, Any], reason: str | None) -> None:
    found = rules.eligibility_failure(eligibility, SUBJECT)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({}, True),
        ({"course_ids": ["SEC-101"]}, True),
        ({"course_ids": ["SEC-102"]}, False),
        ({"course_types": ["certification"]}, False),
        ({"tags": ["security", "other"]}, True),
        ({"tags": ["other"]}, False),
        ({"outcomes": ["completed"]}, False),
        ({"outcomes": ["passed"]}, True),
        ({"min_score": "0.92"}, True),
        ({"min_score": "0.93"}, False),
        ({"classifications": ["contractor"]}, False),
        ({"departments": ["Sales"], "countries": ["US"]}, True),
        ({"countries": ["MX"]}, False),
    ],
)
def test_matches(conditions: dict[str, Any], expected: bool) -> None:
    assert rules.matches(conditions, SUBJECT) is expected


def test_min_score_without_score_does_not_match() -> None:
    assert not rules.matches({"min_score": "0.5"}, replace(SUBJECT, score=None))


@pytest.mark.parametrize(
    ("minutes", "factor"),
    [
        (None, "1"),
        (5, "1.0"),
        (30, "1.0"),
        (31, "1.5"),
        (60, "1.5"),
        (120, "2.0"),
        (240, "2.5"),
        (480, "3.0"),
        (960, "4.0"),
        (961, "5.0"),
        (10_000, "5.0"),
    ],
)
def test_time_investment_steps(minutes: int | None, factor: str) -> None:
    assert rules.time_investment(minutes) == Decimal(factor)


def test_fixed_value() -> None:
    valuation = rules.value_of({"kind": "fixed", "amount": usd("25.00")}, SUBJECT, {})
    assert valuation.amount.minor == 2500


def test_four_factor_takes_factors_from_course_program_and_rule() -> None:
    value = {
        "kind": "four_factor",
        "base": usd("10.00"),
        "behavioural_lift": "1.5",
        "cap": usd("100.00"),
    }
    valuation = rules.value_of(value, SUBJECT, {"employee": "1.2"})
    # 10 × importance 2.0 × time 1.5 (45 min) × lift 1.5 × segment 1.2 = 54.00
    assert valuation.amount.minor == 5400
    assert valuation.calculation["capped"] is False
    assert valuation.calculation["segment"] == "1.2"


def test_four_factor_is_capped() -> None:
    value = {
        "kind": "four_factor",
        "base": usd("25.00"),
        "importance": "4.0",
        "time_investment": "5.0",
        "cap": usd("75.00"),
    }
    valuation = rules.value_of(value, SUBJECT, {})
    assert valuation.amount.minor == 7500
    assert valuation.calculation["uncapped"] == "500.00"
    assert valuation.calculation["capped"] is True


def test_four_factor_rounds_half_up_to_cents() -> None:
    value = {
        "kind": "four_factor",
        "base": usd("0.05"),
        "importance": "1.1",
        "time_investment": "1.0",
    }
    # 0.05 × 1.1 = 0.055 → 0.06
    assert rules.value_of(value, replace(SUBJECT, course_importance=None), {}).amount.minor == 6


def test_four_factor_defaults_are_one() -> None:
    value = {"kind": "four_factor", "base": usd("20.00")}
    plain = replace(SUBJECT, course_importance=None, course_duration_minutes=None)
    assert rules.value_of(value, plain, {}).amount.minor == 2000


@pytest.mark.parametrize(("period", "key"), [("once", "once"), ("calendar_year", "2026")])
def test_dedupe_key(period: str, key: str) -> None:
    assert rules.dedupe_key(period, WHEN) == key


# ---------------------------------------------------------------- checks built once per period

_CLASSES = ["employee", "contractor", "partner", "customer"]
_PLACES = ["Sales", "Support", None]
_COUNTRIES = ["US", "DE", None]


def _conditions() -> Any:
    lists = st.lists
    return st.fixed_dictionaries(
        {},
        optional={
            "course_ids": lists(st.sampled_from(["SEC-101", "HAR-201", "X"]), max_size=2),
            "course_types": lists(st.sampled_from(["compliance", "product"]), max_size=2),
            "outcomes": lists(st.sampled_from(["passed", "completed"]), max_size=2),
            "classifications": lists(st.sampled_from(_CLASSES), max_size=2),
            "departments": lists(st.sampled_from(["Sales", "Support"]), max_size=2),
            "countries": lists(st.sampled_from(["US", "DE"]), max_size=2),
            "tags": lists(st.sampled_from(["security", "privacy"]), max_size=2),
            "min_score": st.one_of(st.none(), st.sampled_from([0.5, 0.9, 0.92, 1])),
        },
    )


def _subjects() -> Any:
    return st.builds(
        replace,
        st.just(SUBJECT),
        classification=st.sampled_from(_CLASSES),
        department=st.sampled_from(_PLACES),
        country=st.sampled_from(_COUNTRIES),
        course_external_id=st.sampled_from(["SEC-101", "HAR-201"]),
        course_type=st.sampled_from(["compliance", "product"]),
        course_tags=st.sampled_from([(), ("security",), ("privacy", "security")]),
        outcome=st.sampled_from(["passed", "completed"]),
        score=st.sampled_from([None, 0.5, 0.9, 0.92, 1.0]),
    )


def test_compiled_checks_answer_as_the_rules_do() -> None:
    """``conditions_check`` / ``eligibility_check`` (built once per program and rule for a
    batch) answer exactly what ``matches`` / ``eligibility_failure`` answer, messages included."""
    windows = st.sampled_from(
        [{}, {"starts_at": "2026-12-01T00:00:00+00:00"}, {"ends_at": "2026-11-01T00:00:00+00:00"}]
    )

    @settings(max_examples=400, deadline=None)
    @given(conditions=_conditions(), subject=_subjects(), window=windows)
    def check(conditions: dict[str, Any], subject: Subject, window: dict[str, str]) -> None:
        match = rules.conditions_check(conditions)
        assert (True if match is None else match(subject)) == rules.matches(conditions, subject)
        eligibility = {
            k: v
            for k, v in conditions.items()
            if k in ("classifications", "departments", "countries")
        } | window
        eligible = rules.eligibility_check(eligibility)
        expected = rules.eligibility_failure(eligibility, subject)
        assert (None if eligible is None else eligible(subject)) == expected

    check()
