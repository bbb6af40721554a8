"""Earning's pure parts: multipliers, periods, ISO weeks, months, prices."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from laurel.kit.errors import Invalid
from laurel.kit.money import Money
from laurel.points import earning
from laurel.points.expiry import add_months
from laurel.points.marketplace import price
from laurel.points.models import PointsPolicy

WHEN = datetime(2026, 12, 15, 9, tzinfo=UTC)


def _activity(
    course: str = "SEC-101", kind: str = "compliance", tags: tuple[str, ...] = ()
) -> earning.Activity:
    return earning.Activity(course, kind, tags, WHEN)


def test_every_matching_multiplier_applies() -> None:
    policy = PointsPolicy(
        multipliers=[
            {"name": "priority", "courses": ["SEC-101"], "factor": "1.5"},
            {"name": "path", "tags": ["milestone"], "factor": "3"},
            {
                "name": "december",
                "starts_at": "2026-12-01T00:00:00+00:00",
                "ends_at": "2027-01-01T00:00:00+00:00",
                "factor": "2",
            },
            {"name": "november", "ends_at": "2026-12-01T00:00:00+00:00", "factor": "10"},
        ]
    )
    assert earning.multiplier(policy, _activity()) == (Decimal("3.0"), ["priority", "december"])
    assert earning.multiplier(policy, _activity("X", "elective", ("milestone",)))[1] == [
        "path",
        "december",
    ]
    assert earning.multiplier(None, _activity()) == (Decimal(1), [])


def test_periods_weeks_and_months() -> None:
    assert earning.period_bounds("week", WHEN) == (
        datetime(2026, 12, 14, tzinfo=UTC),
        datetime(2026, 12, 21, tzinfo=UTC),
    )
    assert earning.period_bounds("month", WHEN)[1] == datetime(2027, 1, 1, tzinfo=UTC)
    assert earning.period_bounds("year", WHEN)[0] == datetime(2026, 1, 1, tzinfo=UTC)
    assert earning.monday_of(datetime(2027, 1, 3, tzinfo=UTC)) == date(2026, 12, 28)
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 24) == datetime(2028, 11, 30, tzinfo=UTC)


def test_prices_round_up_to_whole_points() -> None:
    assert price(Money(2500, "USD"), 100) == 2500
    assert price(Money(1, "USD"), 150) == 2  # 1.5 points: the learner pays 2
    assert price(Money(1000, "JPY"), 1) == 1000
    assert price(Money(1500, "KWD"), 100) == 150


def test_policy_errors_name_each_field() -> None:
    with pytest.raises(Invalid) as caught:
        earning.validate_policy(
            {
                "multipliers": [{"factor": "0"}, {"factor": "2", "starts_at": "2026-12-01"}],
                "caps": {"fortnight": 5},
                "streak": {"bonus": -1},
                "expiry_months": 0,
                "notice_days": 400,
            }
        )
    fields = [d["field"] for d in caught.value.detail]
    assert fields == [
        "multipliers[0].factor",
        "multipliers[1].starts_at",
        "caps.fortnight",
        "streak.bonus",
        "expiry_months",
        "notice_days",
    ]
