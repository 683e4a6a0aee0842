"""The generator's arithmetic on a virtual clock: schedules, percentiles, Little's law, and
latency measured from the schedule (no coordinated omission)."""

from __future__ import annotations

import asyncio
import random

import pytest

from bench import driver, loadgen
from bench.histogram import Histogram, percentiles, rank_index
from bench.schedule import (
    Constant,
    Double11,
    Ramp,
    arrival_times,
    double11,
    expected_count,
    littles_law,
)
from tests.bench.fakeclock import run_virtual


@pytest.mark.parametrize(
    ("hours", "qps"),
    [(0, 1200), (1, 2000), (2, 7600), (2.5, 7900), (3, 8200), (3.5, 7900), (4, 8200),
     (5, 8200 * 0.92), (60, 300), (-1, 0)],
)  # fmt: skip
def test_double11_curve_follows_the_brief(hours: float, qps: float) -> None:
    assert double11(hours) == pytest.approx(qps)


def test_compressed_curve_maps_a_day_into_the_run_and_scales_the_peak() -> None:
    curve = Double11(peak_per_s=100.0, duration_s=120.0)
    assert curve.hour_at(15.0) == pytest.approx(3.0)  # 24 h in 120 s: 5 s per hour
    assert curve.rate(15.0) == pytest.approx(100.0)
    assert curve.rate(0.0) == pytest.approx(1200 / 82)
    assert max(curve.rate(t / 10) for t in range(1200)) == pytest.approx(100.0)
    assert curve.rate(120.0) == 0.0
    offered = expected_count(curve)
    assert len(arrival_times(curve)) == pytest.approx(offered, abs=1.5)


def test_constant_schedule_sends_evenly_from_zero() -> None:
    times = arrival_times(Constant(100.0, 2.0))
    assert len(times) == 200
    assert times[0] == 0.0
    assert times[1] == pytest.approx(0.01)
    assert times[-1] == pytest.approx(1.99)
    assert arrival_times(Constant(100.0, 2.0), limit=7) == times[:7]


def test_ramp_offers_its_integral_and_thickens_over_time() -> None:
    times = arrival_times(Ramp(0.0, 200.0, 2.0))
    assert len(times) == pytest.approx(200, abs=1)
    first_half = sum(1 for t in times if t < 1.0)
    assert first_half == pytest.approx(50, abs=1)  # a quarter of the triangle's area
    assert Ramp(0, 10, 1).rate(2.0) == 0.0


def test_nearest_rank_percentiles() -> None:
    samples = [float(v) for v in range(1, 101)]
    random.Random(1).shuffle(samples)
    assert percentiles(samples) == {
        "p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 100.0, "max": 100.0,
    }  # fmt: skip
    assert percentiles([])["p99"] == 0.0
    assert rank_index(0.5, 1) == 0
    with pytest.raises(ValueError):
        rank_index(0.5, 0)


def test_histogram_percentiles_are_within_its_precision() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(1.0, 1.2) for _ in range(20_000)]
    histogram = Histogram()
    histogram.record_all(samples)
    exact = percentiles(samples)
    found = histogram.summary()
    for name in ("p50", "p90", "p99", "p999"):
        assert found[name] == pytest.approx(exact[name], rel=0.011), name
    assert found["max"] == max(samples)
    assert found["mean"] == pytest.approx(sum(samples) / len(samples))


def test_histograms_merge_and_round_trip() -> None:
    left, right, both = Histogram(), Histogram(), Histogram()
    for value in (0.0001, 0.5, 2.0, 40.0):
        left.record(value)
        both.record(value)
    for value in (3.0, 900.0):
        right.record(value)
        both.record(value)
    left.merge(right)
    assert left.summary() == both.summary()
    again = Histogram.from_dict(left.to_dict())
    assert again.summary() == left.summary() and again.count == 6
    assert Histogram().summary()["p99"] == 0.0
    assert Histogram.from_dict(Histogram().to_dict()).count == 0
    with pytest.raises(ValueError):
        left.merge(Histogram(precision=0.1))


def test_littles_law() -> None:
    assert littles_law(1320.0, 1.8) == pytest.approx(2376.0)
    with pytest.raises(ValueError):
        littles_law(-1.0, 1.0)


def _fixed_latency(seconds: float) -> driver.Send:
    async def send(_index: int) -> str:
        await asyncio.sleep(seconds)
        return "OK"

    return send


def test_open_loop_latency_throughput_and_littles_law_on_a_virtual_clock() -> None:
    async def scenario() -> driver.Recorder:
        clock = asyncio.get_running_loop().time
        times = arrival_times(Constant(100.0, 10.0))
        recorder = driver.Recorder(measure_from=1.0)
        indices = list(range(len(times)))
        send = _fixed_latency(0.05)
        # sample off the arrivals' beat: at the very instant one leaves and one comes it is 5 or 6
        await driver.open_loop(send, indices, times, 0.0, clock, recorder, sample_every_s=0.0037)
        return recorder

    recorder = run_virtual(scenario())
    assert recorder.outcomes == {"OK": 900}  # the first second is warm-up
    assert recorder.latency.summary()["p99"] == pytest.approx(50.0, rel=0.01)
    rows = recorder.timeline()
    assert len(rows) == 10  # the last window holds the answers to the last requests
    for row in rows[1:-1]:
        assert row["offered_rps"] == pytest.approx(100, abs=1)
        assert row["achieved_rps"] == pytest.approx(100, abs=1)
        assert row["littles_law"] == pytest.approx(5.0, rel=0.03)
        assert row["in_flight"] == pytest.approx(5.0, abs=0.6)
    assert recorder.send_lag.summary()["max"] == 0.0


def test_open_loop_behind_schedule_still_takes_answers_between_sends() -> None:
    """Every send is late (all were due at 0): answers must be read while the late sends go
    out, or they pile up unread and the run measures the generator's own queue."""
    events: list[str] = []

    async def send(_index: int) -> str:
        events.append("send")
        await asyncio.sleep(0)
        return "OK"

    async def scenario() -> driver.Recorder:
        loop = asyncio.get_running_loop()
        recorder = driver.Recorder(measure_from=0.0)
        original = recorder.done

        def done(due: float, at: float, outcome: str) -> None:
            events.append("answer")
            original(due, at, outcome)

        recorder.done = done  # type: ignore[method-assign]
        await driver.open_loop(send, range(200), [0.0] * 200, loop.time() - 1.0, loop.time,
                               recorder)  # fmt: skip
        return recorder

    recorder = asyncio.run(scenario())
    assert recorder.outcomes == {"OK": 200}
    assert events.index("answer") < 10  # the first answers come in among the first sends


class _StallingServer:
    """One request at a time, 5 ms each, and nothing at all between t=2 s and t=3 s."""

    def __init__(self) -> None:
        self.free_at = 0.0

    async def send(self, _index: int) -> str:
        loop = asyncio.get_running_loop()
        begin = max(loop.time(), self.free_at)
        if 2.0 <= begin < 3.0:
            begin = 3.0
        self.free_at = begin + 0.005
        await asyncio.sleep(self.free_at - loop.time())
        return "OK"


def test_open_loop_sees_the_stall_a_closed_loop_hides() -> None:
    async def open_run() -> driver.Recorder:
        clock = asyncio.get_running_loop().time
        times = arrival_times(Constant(100.0, 5.0))
        recorder = driver.Recorder(measure_from=0.0)
        indices = list(range(len(times)))
        await driver.open_loop(_StallingServer().send, indices, times, 0.0, clock, recorder)
        return recorder

    async def closed_run() -> driver.Recorder:
        clock = asyncio.get_running_loop().time
        recorder = driver.Recorder(measure_from=0.0)
        server = _StallingServer()
        await driver.closed_loop(server.send, range(10**6), 1, 5.0, clock, recorder)
        return recorder

    opened, closed = run_virtual(open_run()), run_virtual(closed_run())
    # open loop: the ~100 buyers due during the stall each waited up to a second
    assert opened.latency.summary()["p90"] >= 400.0
    assert opened.latency.summary()["max"] == pytest.approx(1000.0, rel=0.02)
    # closed loop: one slow request, then fast ones; the stall barely shows in the percentiles
    assert closed.latency.summary()["p99"] <= 6.0
    assert closed.latency.summary()["max"] == pytest.approx(1000.0, rel=0.02)


def test_closed_loop_keeps_its_callers_busy() -> None:
    async def scenario() -> tuple[int, driver.Recorder]:
        clock = asyncio.get_running_loop().time
        recorder = driver.Recorder(measure_from=0.0)
        sent = await driver.closed_loop(_fixed_latency(0.01), range(10**6), 4, 2.0, clock, recorder)
        return sent, recorder

    sent, recorder = run_virtual(scenario())
    assert sent == pytest.approx(800, abs=4)
    row = recorder.timeline()[0]
    assert row["achieved_rps"] == pytest.approx(400, abs=4)
    assert row["in_flight"] == pytest.approx(4.0, abs=0.1)
    assert row["littles_law"] == pytest.approx(4.0, rel=0.02)


def test_shards_split_every_request_once() -> None:
    parts = [driver.shard(10, k, 3) for k in range(3)]
    assert sorted(i for part in parts for i in part) == list(range(10))
    with pytest.raises(ValueError):
        driver.shard(10, 3, 3)


def _part(latency_s: float, outcome: str, cpu_s: float) -> loadgen._Part:
    async def scenario() -> driver.Recorder:
        clock = asyncio.get_running_loop().time
        recorder = driver.Recorder(measure_from=0.0)
        times = arrival_times(Constant(10.0, 2.0))

        async def send(_index: int) -> str:
            await asyncio.sleep(latency_s)
            return outcome

        await driver.open_loop(send, list(range(len(times))), times, 0.0, clock, recorder)
        return recorder

    return loadgen._Part(run_virtual(scenario()), 20, 2.0, cpu_s, 2.0)


def test_results_of_several_processes_merge() -> None:
    spec = loadgen.LoadSpec("t", "/m", "x:y", rate=10.0, duration_s=2.0, warmup_s=0.0)
    result = loadgen.merge(spec, [_part(0.01, "OK", 0.2), _part(0.1, "shop/ABORTED", 1.9)])
    assert result.sent == 40 and result.completed == 40 and result.ok == 20
    assert result.codes == {"OK": 20, "shop/ABORTED": 20}
    assert result.timeline[0]["offered_rps"] == 20
    assert result.latency_ms["max"] == pytest.approx(100.0)
    assert result.generator_cpu_share == pytest.approx(0.95)
    assert any("generator CPU" in w for w in result.warnings)


def test_late_sends_warn_that_the_generator_is_the_bottleneck() -> None:
    late = loadgen.LoadResult(1, 1.0, {"OK": 1}, {}, 0.1, send_lag_ms={"p99": 80.0})
    assert loadgen.bottleneck_warnings(late, open_loop=True)
    assert not loadgen.bottleneck_warnings(late, open_loop=False)
    assert late.rps == 1.0 and loadgen.LoadResult(0, 0.0, {}, {}, 0.0).rps == 0.0
