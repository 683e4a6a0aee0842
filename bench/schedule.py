"""Arrival schedules for the open-loop generator: a constant rate, a linear ramp, and BRIEF.md's
Double-11 curve time-compressed and scaled; plus Little's law.

A schedule is a rate over time (requests/s at second t); `arrival_times` turns it into the send
times of individual requests: request k is due when the integral of the rate reaches k.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

DOUBLE11_PEAK_QPS = 8200.0
DOUBLE11_HOURS = 24.0


def double11(hours: float) -> float:
    """BRIEF.md's Double-11 curve (QPS at hour t): rise, a two-hour plateau peak, then decay."""
    if hours < 0:
        return 0.0
    if hours < 2:
        return 1200.0 + 800.0 * float(hours**1.8)
    if hours < 4:
        return 8200.0 - 600.0 * abs(hours - 3.0)
    return max(300.0, 8200.0 * float(0.92 ** (hours - 4.0)))


class Schedule(Protocol):
    @property
    def duration_s(self) -> float: ...

    def rate(self, t: float) -> float:
        """Requests per second due at `t` seconds after the start."""
        ...


@dataclass(frozen=True, slots=True)
class Constant:
    per_s: float
    duration_s: float

    def rate(self, t: float) -> float:
        return self.per_s if 0 <= t < self.duration_s else 0.0


@dataclass(frozen=True, slots=True)
class Ramp:
    """From `start_per_s` to `end_per_s`, linearly, over `duration_s` (to find a machine's peak)."""

    start_per_s: float
    end_per_s: float
    duration_s: float

    def rate(self, t: float) -> float:
        if not 0 <= t < self.duration_s:
            return 0.0
        return self.start_per_s + (self.end_per_s - self.start_per_s) * t / self.duration_s


@dataclass(frozen=True, slots=True)
class Double11:
    """The curve's `hours` replayed in `duration_s` seconds, scaled so its top is `peak_per_s`."""

    peak_per_s: float
    duration_s: float
    hours: float = DOUBLE11_HOURS

    @property
    def scale(self) -> float:
        return self.peak_per_s / DOUBLE11_PEAK_QPS

    def hour_at(self, t: float) -> float:
        return t / self.duration_s * self.hours

    def rate(self, t: float) -> float:
        if not 0 <= t < self.duration_s:
            return 0.0
        return double11(self.hour_at(t)) * self.scale


def _steps(duration_s: float, step_s: float) -> Iterator[tuple[float, float]]:
    count = max(1, math.ceil(duration_s / step_s))
    width = duration_s / count
    for i in range(count):
        yield i * width, width


def arrival_times(
    schedule: Schedule, limit: int | None = None, step_s: float = 0.001
) -> list[float]:
    """Send offsets (s): request k is due when the rate's integral reaches k (k = 0, 1, ...).
    The rate is integrated with the midpoint rule in `step_s` slices and interpolated inside one."""
    times: list[float] = []
    area = 0.0
    for start, width in _steps(schedule.duration_s, step_s):
        rate = schedule.rate(start + width / 2)
        after = area + rate * width
        while len(times) <= after - 1e-9 and (limit is None or len(times) < limit):
            due = len(times)
            times.append(start + (due - area) / rate if rate > 0 else start)
        if limit is not None and len(times) >= limit:
            break
        area = after
    return times


def expected_count(schedule: Schedule, step_s: float = 0.001) -> float:
    """The integral of the rate over the whole schedule: how many requests it offers."""
    return sum(schedule.rate(s + w / 2) * w for s, w in _steps(schedule.duration_s, step_s))


def littles_law(throughput_per_s: float, mean_latency_s: float) -> float:
    """L = λ·W: the mean number of requests in the system that a throughput and latency imply."""
    if throughput_per_s < 0 or mean_latency_s < 0:
        raise ValueError("throughput and latency cannot be negative")
    return throughput_per_s * mean_latency_s
