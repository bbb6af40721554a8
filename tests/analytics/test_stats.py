"""The lift interval against the published values (Newcombe 1998, Table II, method 10)."""

from __future__ import annotations

import pytest

from laurel.analytics import stats


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
    ],
)
def test_hybrid_score_interval_matches_newcombe(
    k1: int, n1: int, k2: int, n2: int, low: float, high: float
) -> None:
    diff, interval = stats.difference(k1, n1, k2, n2)
    assert diff == pytest.approx(k1 / n1 - k2 / n2)
    assert round(interval.low, 4) == low
    assert round(interval.high, 4) == high


def test_empty_groups_say_nothing() -> None:
    assert stats.difference(0, 0, 3, 10) == (0.0, stats.Interval(-1.0, 1.0))
    assert stats.median([]) is None
    assert stats.median([3.0, 1.0, 2.0, 10.0]) == 2.5
