"""The bench histogram: percentiles within 1% of the exact ones, merging, constant size."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rpccli.bench.histogram import SIZE, Histogram

VALUES = st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=400)
PERCENTS = st.sampled_from([0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]) | st.floats(
    min_value=0, max_value=100
)


def exact(values: list[int], percent: float) -> int:
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def filled(values: list[int]) -> Histogram:
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    return histogram


@settings(max_examples=300, deadline=None)
@given(VALUES, PERCENTS)
def test_a_percentile_is_within_one_percent_of_the_exact_one(values: list[int], percent: float):
    histogram = filled(values)
    want = exact(values, percent)
    assert abs(histogram.percentile(percent) - want) <= want * 0.01


@settings(max_examples=100, deadline=None)
@given(VALUES)
def test_count_min_max_and_mean_are_exact(values: list[int]) -> None:
    histogram = filled(values)
    assert histogram.count == len(values)
    assert (histogram.min, histogram.max) == (min(values), max(values))
    assert histogram.mean == sum(values) / len(values)


@settings(max_examples=100, deadline=None)
@given(VALUES, VALUES)
def test_merging_two_is_recording_both(first: list[int], second: list[int]) -> None:
    merged = filled(first)
    merged.merge(Histogram.from_bytes(filled(second).to_bytes()))  # as lanes send them
    both = filled(first + second)
    assert merged.counts == both.counts
    assert (merged.count, merged.min, merged.max, merged.total) == (
        both.count,
        both.min,
        both.max,
        both.total,
    )


def test_memory_is_constant() -> None:
    histogram = filled([1, 10**6, 2**60])  # beyond the top: the last bucket
    assert len(histogram.counts) == SIZE
    assert len(histogram.to_bytes()) == 8 * (SIZE + 4)
    assert histogram.percentile(100) == 2**60  # max stays exact
