"""How `mnistgrid compare` words its differences and durations, and the export's JSON value of a
non-finite loss: pure functions, no store."""

from __future__ import annotations

import math

import pytest

from mnistgrid.results.compare import duration_text, ratio_text
from mnistgrid.results.export import json_value


@pytest.mark.parametrize(
    ("first", "other", "text"),
    [
        (962, 286, "3.4x fewer"),
        (286, 962, "3.4x more"),
        (100, 100, "same"),
        (100, 0, ""),  # nothing trained yet: no ratio
        (0, 100, ""),
    ],
)
def test_ratio_text(first: float, other: float, text: str) -> None:
    assert ratio_text(first, other, "fewer", "more") == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.29, "0.3 s"), (59.94, "59.9 s"), (62, "1 min 02 s"), (3725, "1 h 02 min")],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_a_non_finite_float_is_a_string_in_jsonl() -> None:
    assert [json_value(v) for v in (math.nan, math.inf, -math.inf, 0.5, None, 3)] == [
        "nan", "inf", "-inf", 0.5, None, 3
    ]  # fmt: skip
