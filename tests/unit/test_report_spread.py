"""A configuration's spread over its seeds: the mean of equal accuracies stays inside their range
(summed in floats, three seeds at 0.1 average a hair above 0.1, and the report's error bars,
mean to range, refused a negative length and failed the whole report)."""

from __future__ import annotations

import pytest

from mnistgrid.report.summary import spread


@pytest.mark.parametrize("value", [0.1, 0.7, 0.9137, 1 / 3])
@pytest.mark.parametrize("n", [2, 3, 7])
def test_equal_seeds_have_their_value_as_mean(value: float, n: int) -> None:
    s = spread([value] * n)
    assert s is not None and s.low <= s.mean <= s.high and s.mean == value and s.n == n


def test_a_spread_skips_what_is_not_finite() -> None:
    s = spread([0.5, float("nan"), 0.7, float("inf"), None])
    assert (round(s.mean, 12), s.low, s.high, s.n) == (0.6, 0.5, 0.7, 2)
    assert spread([float("nan")]) is None
