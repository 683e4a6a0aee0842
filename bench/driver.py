"""The generator's engine, free of gRPC: when to send (open or closed loop), what to record.

`send(index)` does one request and returns its outcome label ("OK", "FAILED_PRECONDITION:SOLD_OUT",
"browse/OK" ...). The clock is injected (time.perf_counter in the generator, a virtual clock in
tests), and waiting is asyncio.sleep, so a test loop whose time() is virtual runs the same code.

Open loop: request k is due at `start + times[k]` and is sent then whether or not earlier ones
answered; its latency counts from that due time, so a server that falls behind shows its queue
(no coordinated omission). How late the generator itself sent (`send_lag`) is recorded apart:
when that grows, the generator, not the server, is the bottleneck.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.histogram import Histogram
from bench.schedule import littles_law

Send = Callable[[int], Awaitable[str]]
Clock = Callable[[], float]


@dataclass
class Window:
    """One slice of the measured time: offered (due) and completed requests, their outcomes,
    the latency of requests due in it, and the in-flight count sampled through it."""

    offered: int = 0
    completed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    in_flight_sum: float = 0.0
    in_flight_samples: int = 0

    def merge(self, other: Window) -> None:
        self.offered += other.offered
        self.completed += other.completed
        self.outcomes.update(other.outcomes)
        self.latency.merge(other.latency)
        self.in_flight_sum += other.in_flight_sum
        self.in_flight_samples += other.in_flight_samples


@dataclass
class Recorder:
    """Everything measured after `measure_from`, overall and in windows of `window_s`."""

    measure_from: float
    window_s: float = 1.0
    windows: dict[int, Window] = field(default_factory=dict)
    latency: Histogram = field(default_factory=Histogram)
    send_lag: Histogram = field(default_factory=Histogram)
    outcomes: Counter[str] = field(default_factory=Counter)
    progress: Counter[str] = field(default_factory=Counter)  # every request, warm-up included

    def _window(self, at: float) -> Window | None:
        if at < self.measure_from:
            return None
        index = int((at - self.measure_from) // self.window_s)
        return self.windows.setdefault(index, Window())

    def due(self, due: float, sent: float) -> None:
        self.progress["sent"] += 1
        window = self._window(due)
        if window is not None:
            window.offered += 1
            self.send_lag.record((sent - due) * 1000)

    def done(self, due: float, finished: float, outcome: str) -> None:
        self.progress["done"] += 1
        self.progress[outcome] += 1
        if due < self.measure_from:
            return
        latency_ms = (finished - due) * 1000
        self.latency.record(latency_ms)
        self.outcomes[outcome] += 1
        by_due = self._window(due)
        assert by_due is not None
        by_due.latency.record(latency_ms)
        by_done = self._window(finished)
        assert by_done is not None
        by_done.completed += 1
        by_done.outcomes[outcome] += 1

    def in_flight(self, at: float, count: int) -> None:
        window = self._window(at)
        if window is not None:
            window.in_flight_sum += count
            window.in_flight_samples += 1

    def timeline(self) -> list[dict[str, Any]]:
        """One row per window: offered vs achieved rate, latency, in-flight vs Little's law."""
        rows = []
        last = max(self.windows, default=-1)
        for index in range(last + 1):
            w = self.windows.get(index, Window())
            achieved = w.completed / self.window_s
            measured = w.in_flight_sum / w.in_flight_samples if w.in_flight_samples else 0.0
            rows.append(
                {
                    "t_s": round(index * self.window_s, 3),
                    "offered_rps": w.offered / self.window_s,
                    "achieved_rps": achieved,
                    **{f"{k}_ms": v for k, v in w.latency.summary().items()},
                    "in_flight": measured,
                    "littles_law": littles_law(achieved, w.latency.mean_ms / 1000),
                    "outcomes": dict(w.outcomes),
                }
            )
        return rows


async def _sample_in_flight(
    clock: Clock, recorder: Recorder, pending: Callable[[], int], every_s: float
) -> None:
    while True:
        recorder.in_flight(clock(), pending())
        await asyncio.sleep(every_s)


async def open_loop(
    send: Send,
    indices: Sequence[int],
    times: Sequence[float],
    start: float,
    clock: Clock,
    recorder: Recorder,
    sample_every_s: float = 0.01,
) -> int:
    """Send request `indices[k]` at `start + times[k]`; wait for every answer; return how many
    were sent. Answers are recorded against their due time."""
    pending: set[asyncio.Task[None]] = set()

    async def one(index: int, due: float) -> None:
        outcome = await send(index)
        recorder.done(due, clock(), outcome)

    sampler = asyncio.create_task(
        _sample_in_flight(clock, recorder, pending.__len__, sample_every_s)
    )
    try:
        for index, offset in zip(indices, times, strict=True):
            due = start + offset
            delay = due - clock()
            # behind schedule, still yield: a burst of late sends must not starve the answers
            # (they would pile up unread, and the run would measure its own queue)
            await asyncio.sleep(max(0.0, delay))
            recorder.due(due, clock())
            task = asyncio.create_task(one(index, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        while pending:
            await asyncio.gather(*pending)
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    return len(indices)


async def closed_loop(
    send: Send,
    indices: Sequence[int],
    in_flight: int,
    stop_at: float,
    clock: Clock,
    recorder: Recorder,
    sample_every_s: float = 0.01,
) -> int:
    """`in_flight` callers each send the next request when their last one answered, until the
    indices run out or `stop_at`; latency counts from the actual send. Returns the count sent."""
    queue = iter(indices)
    sent = 0
    busy = 0

    async def caller() -> None:
        nonlocal sent, busy
        for index in queue:
            now = clock()
            if now >= stop_at:
                return
            sent += 1
            busy += 1
            recorder.due(now, now)
            outcome = await send(index)
            busy -= 1
            recorder.done(now, clock(), outcome)

    sampler = asyncio.create_task(_sample_in_flight(clock, recorder, lambda: busy, sample_every_s))
    try:
        await asyncio.gather(*(caller() for _ in range(in_flight)))
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    return sent


def measured_seconds(recorder: Recorder, end: float) -> float:
    return max(end - recorder.measure_from, 1e-9)


def shard(count: int, part: int, parts: int) -> list[int]:
    """The request indices one of `parts` generator processes sends: every parts-th one."""
    if not 0 <= part < parts:
        raise ValueError("part out of range")
    return list(range(part, count, parts))


def ceil_windows(duration_s: float, window_s: float) -> int:
    return math.ceil(duration_s / window_s)
