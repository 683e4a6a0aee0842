"""Snowflake ids stay unique and ordered, even when the clock steps back or a millisecond fills."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.common.snowflake import EPOCH_MS, MAX_WORKER, Snowflake, parse


@given(st.lists(st.integers(min_value=-50, max_value=50), min_size=1, max_size=300))
def test_ids_strictly_increase_whatever_the_clock_does(steps: list[int]) -> None:
    now = [EPOCH_MS + 10_000]

    def clock() -> int:
        return now[0]

    generator = Snowflake(7, clock)
    previous = -1
    for step in steps:
        now[0] += step
        value = generator.next_id()
        assert value > previous
        assert 0 < value < 2**63
        assert parse(value).worker == 7
        previous = value


def test_a_full_millisecond_rolls_into_the_next() -> None:
    generator = Snowflake(1, lambda: EPOCH_MS + 5)
    ids = [generator.next_id() for _ in range(5000)]
    assert len(set(ids)) == 5000 and ids == sorted(ids)
    assert parse(ids[-1]).timestamp_ms == EPOCH_MS + 6


@pytest.mark.parametrize("worker", [-1, MAX_WORKER + 1])
def test_worker_id_out_of_range_is_refused(worker: int) -> None:
    with pytest.raises(ValueError, match="worker id"):
        Snowflake(worker)
