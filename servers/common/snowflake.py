"""Snowflake-style ids: 64-bit, time-ordered, unique per worker without coordination.

Layout (high to low): 1 zero bit (fits a signed BIGINT), 41 bits of milliseconds since
2024-01-01 UTC, 10 bits of worker id, 12 bits of sequence. When the wall clock steps back, ids
keep counting from the last millisecond used instead of repeating one; when a millisecond's
4,096 sequence numbers run out, the generator moves on to the next millisecond.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
_SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1


@dataclass(frozen=True, slots=True)
class SnowflakeParts:
    timestamp_ms: int
    worker: int
    sequence: int


class Snowflake:
    def __init__(self, worker: int, clock_ms: Callable[[], int] | None = None) -> None:
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker id must be 0..{MAX_WORKER}, got {worker}")
        self._worker = worker
        self._clock = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        now = self._clock() - EPOCH_MS
        if now > self._last_ms:
            self._last_ms, self._sequence = now, 0
        else:  # same millisecond, or the clock went back: keep counting from the last one
            self._sequence = (self._sequence + 1) & _SEQUENCE_MASK
            if self._sequence == 0:
                self._last_ms += 1
        return (
            (self._last_ms << (WORKER_BITS + SEQUENCE_BITS))
            | (self._worker << SEQUENCE_BITS)
            | self._sequence
        )


def parse(snowflake_id: int) -> SnowflakeParts:
    return SnowflakeParts(
        timestamp_ms=(snowflake_id >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS,
        worker=(snowflake_id >> SEQUENCE_BITS) & MAX_WORKER,
        sequence=snowflake_id & _SEQUENCE_MASK,
    )
