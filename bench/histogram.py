"""A small log-bucketed latency histogram (the HdrHistogram idea, in plain Python).

Values are recorded in milliseconds into buckets whose width grows with the value, so the error
of any reported percentile is bounded by a relative `precision` (1 % by default) whatever the
range, memory stays a few kilobytes for 100,000s of samples, and histograms from several
generator processes or time windows merge by adding counts. Minimum, maximum and sum are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}
_FLOOR_MS = 0.001  # 1 µs: anything faster is recorded as 1 µs


def rank_index(q: float, count: int) -> int:
    """Nearest-rank percentile: the 0-based index of the ceil(q * count)-th smallest value."""
    if count <= 0:
        raise ValueError("no samples")
    return max(0, min(count - 1, math.ceil(q * count) - 1))


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """Exact nearest-rank percentiles of a list of latencies (ms), plus the maximum."""
    if not samples_ms:
        return {**dict.fromkeys(QUANTILES, 0.0), "max": 0.0}
    ordered = sorted(samples_ms)
    found = {name: ordered[rank_index(q, len(ordered))] for name, q in QUANTILES.items()}
    return {**found, "max": ordered[-1]}


@dataclass
class Histogram:
    precision: float = 0.01
    counts: dict[int, int] = field(default_factory=dict)
    count: int = 0
    total_ms: float = 0.0
    min_ms: float = math.inf
    max_ms: float = 0.0

    @property
    def _base(self) -> float:
        return 1.0 + 2.0 * self.precision  # a bucket's midpoint is within `precision` of its edges

    def _bucket(self, value_ms: float) -> int:
        return int(math.log(max(value_ms, _FLOOR_MS) / _FLOOR_MS, self._base))

    def _value(self, bucket: int) -> float:
        low = _FLOOR_MS * self._base**bucket
        return low * (1.0 + self._base) / 2.0

    def record(self, value_ms: float) -> None:
        bucket = self._bucket(value_ms)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.count += 1
        self.total_ms += value_ms
        self.min_ms = min(self.min_ms, value_ms)
        self.max_ms = max(self.max_ms, value_ms)

    def record_all(self, values_ms: Iterable[float]) -> None:
        for value in values_ms:
            self.record(value)

    def merge(self, other: Histogram) -> None:
        if other.precision != self.precision:
            raise ValueError("histograms of different precision do not merge")
        for bucket, n in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + n
        self.count += other.count
        self.total_ms += other.total_ms
        self.min_ms = min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """The nearest-rank q-quantile, within `precision` of the exact one (clamped to min/max)."""
        if not self.count:
            return 0.0
        wanted = rank_index(q, self.count) + 1
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= wanted:
                return min(self.max_ms, max(self.min_ms, self._value(bucket)))
        return self.max_ms  # pragma: no cover - counts always add up to count

    def summary(self) -> dict[str, float]:
        """p50/p90/p99/p99.9, max and mean in ms (zeros when empty)."""
        found = {name: self.percentile(q) for name, q in QUANTILES.items()}
        return {**found, "max": self.max_ms, "mean": self.mean_ms}

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "counts": {str(k): v for k, v in sorted(self.counts.items())},
            "count": self.count,
            "total_ms": self.total_ms,
            "min_ms": self.min_ms if self.count else 0.0,
            "max_ms": self.max_ms,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Histogram:
        counts = {int(k): int(v) for k, v in raw["counts"].items()}
        count = int(raw["count"])
        low = float(raw["min_ms"]) if count else math.inf
        return cls(
            float(raw["precision"]), counts, count, float(raw["total_ms"]), low, raw["max_ms"]
        )
