"""A latency histogram of constant memory and bounded relative error, mergeable across processes.

Log-linear buckets, as HdrHistogram's: values are nanoseconds (integers); below 256 every value
has its own bucket, above it each power of two is cut into 128 equal buckets. A bucket's width
is at most 1/128 of its lowest value, and a value is reported as its bucket's middle, so every
percentile is within 1/256 (0.4%) of the recorded value it stands for -- under the 1% the docs
promise (docs/bench.md#reading-the-figures). 4,480 counters cover 1 ns to over 30 minutes: 36 KiB
however many calls are recorded. Two histograms merge by adding their counters, so lanes
(worker processes) send theirs back as bytes and the totals are exact.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator

__all__ = ["Histogram"]

_SUB = 7  # 2**7 = 128 buckets per power of two
_LINEAR = 1 << (_SUB + 1)  # values below 256 have a bucket each
_SHIFTS = 34  # up to 2**42 ns (73 minutes); longer values land in the last bucket
SIZE = (_SHIFTS + 2) << _SUB
_TOP = (_LINEAR << _SHIFTS) - 1


def index_of(value: int) -> int:
    """The bucket of ``value`` (nanoseconds, >= 0)."""
    if value < _LINEAR:
        return value
    if value > _TOP:
        value = _TOP
    shift = value.bit_length() - _SUB - 1
    return (shift << _SUB) + (value >> shift)


def bounds(index: int) -> tuple[int, int]:
    """The lowest value of bucket ``index`` and its width."""
    if index < _LINEAR:
        return index, 1
    shift = (index >> _SUB) - 1
    return (index - (shift << _SUB)) << shift, 1 << shift


class Histogram:
    """Counts of values (nanoseconds) in log-linear buckets, with the exact count, sum, min
    and max."""

    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts = array("Q", bytes(8 * SIZE))
        self.count = 0
        self.total = 0  # sum of the values, for the mean
        self.min = 0
        self.max = 0

    def record(self, value: int) -> None:
        """Record one value in nanoseconds (negative values count as 0)."""
        if value < 0:
            value = 0
        if value < _LINEAR:
            self.counts[value] += 1
        else:
            bucketed = value if value <= _TOP else _TOP
            shift = bucketed.bit_length() - _SUB - 1
            self.counts[(shift << _SUB) + (bucketed >> shift)] += 1
        if not self.count or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.count += 1
        self.total += value

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s values to this one."""
        if not other.count:
            return
        counts = self.counts
        for index, n in enumerate(other.counts):
            if n:
                counts[index] += n
        self.min = other.min if not self.count else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    def _value(self, index: int) -> int:
        low, width = bounds(index)
        return min(max(low + width // 2, self.min), self.max)

    def percentile(self, percent: float) -> int:
        """The value at ``percent`` (0-100): the smallest recorded value with at least that
        share of the values at or below it, within the bucket's error; 0 when empty."""
        if not self.count:
            return 0
        rank = max(1, math.ceil(percent / 100 * self.count))
        if rank >= self.count:
            return self.max
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return self._value(index)
        return self.max  # pragma: no cover -- the counts add up to count

    def percentiles(self, percents: list[float]) -> list[int]:
        return [self.percentile(p) for p in percents]

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def stddev(self) -> float:
        if not self.count:
            return 0.0
        mean = self.mean
        square = sum(n * (self._value(i) - mean) ** 2 for i, n in self.buckets())
        return math.sqrt(square / self.count)

    def buckets(self) -> Iterator[tuple[int, int]]:
        """(bucket index, count) of every bucket that holds values, lowest first."""
        for index, n in enumerate(self.counts):
            if n:
                yield index, n

    def bucket_value(self, index: int) -> int:
        """The value a bucket's counts stand for (its middle, within min and max)."""
        return self._value(index)

    def count_above(self, value: int) -> int:
        """How many values lie in buckets above ``value``'s bucket."""
        return sum(self.counts[index_of(value) + 1 :])

    # -- between processes ------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        head = array("Q", [self.count, self.total, self.min, self.max])
        return head.tobytes() + self.counts.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Histogram:
        histogram = cls()
        head = array("Q")
        head.frombytes(data[:32])
        histogram.count, histogram.total, histogram.min, histogram.max = head
        histogram.counts = array("Q")
        histogram.counts.frombytes(data[32:])
        return histogram
