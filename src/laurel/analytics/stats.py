"""The statistics behind the reports, kept apart so they can be checked against the literature.

Rates and their difference are proportions of people, not money, so floats are right here.
The interval for a difference of two proportions is Newcombe's hybrid score interval (method 10
in Newcombe, "Interval estimation for the difference between independent proportions",
Statistics in Medicine 17, 1998), built from Wilson score intervals: unlike the textbook Wald
interval it stays inside [-1, 1] and behaves with small groups and rates near 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, n: int, z: float = Z_95) -> Interval:
    if n == 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def difference(k1: int, n1: int, k2: int, n2: int, z: float = Z_95) -> tuple[float, Interval]:
    """p1 - p2 and its hybrid score interval; (0, [-1, 1]) when a group is empty."""
    if n1 == 0 or n2 == 0:
        return 0.0, Interval(-1.0, 1.0)
    p1, p2 = k1 / n1, k2 / n2
    a, b = wilson(k1, n1, z), wilson(k2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2)
    high = d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2)
    return d, Interval(low, high)


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def histogram_median(histogram: Mapping[int, int]) -> float | None:
    """The median of values given as ``{value: how many}``: the mean of the one or two middle
    values, as :func:`median` of the expanded list would answer."""
    n = sum(histogram.values())
    if n <= 0:
        return None
    wanted = sorted({(n - 1) // 2, n // 2})
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        k = histogram[value]
        found.extend(value for rank in wanted if seen <= rank < seen + k)
        seen += k
    return sum(found) / len(found)
