"""A gRPC load generator that runs in its own process(es).

Closed loop (default): `in_flight` callers each send the next request as soon as the previous one
answers — the right tool for a maximum-throughput figure. Open loop (`rate` or `schedule` set):
requests are sent on a schedule whether or not earlier ones answered, and latency is measured
from the *scheduled* send time, so a server that falls behind shows its queueing (no coordinated
omission). The engine is bench/driver.py; this module adds gRPC, processes and live progress.

Requests come from a factory named "module:function", called with the request index, that
returns the serialized request (sent to `method`) or a (kind, method, bytes) triple for mixed
workloads (outcomes are then labelled "kind/CODE"). Bodies are built before the clock starts.
Each generator process measures its own CPU; `warnings` says when it, not the server, was the
bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import multiprocessing
import os
import queue as queue_module
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench import driver
from bench.histogram import percentiles
from bench.progress import Progress
from bench.schedule import Constant, Schedule, arrival_times

__all__ = ["LoadResult", "LoadSpec", "percentiles", "run"]

Request = bytes | tuple[str, str, bytes]
_PROGRESS_EVERY_S = 0.5
CPU_WARN_SHARE = 0.85  # of one core, per generator process
LAG_WARN_MS = 20.0  # p99 of how late requests left the generator


@dataclass(frozen=True, slots=True)
class LoadSpec:
    target: str
    method: str
    requests: str
    in_flight: int = 64
    duration_s: float = 10.0
    warmup_s: float = 1.0
    rate: float | None = None
    max_requests: int = 200_000
    timeout_s: float = 5.0
    metadata: tuple[tuple[str, str], ...] = ()
    schedule: Schedule | None = None  # open loop along this (overrides rate and duration)
    processes: int = 1
    connections: int = 1
    reasons: bool = False  # label refusals with their google.rpc ErrorInfo reason
    window_s: float = 1.0
    progress: str = ""  # a label turns on the live progress line (stderr)

    @property
    def open_loop(self) -> bool:
        return self.schedule is not None or self.rate is not None

    def due_times(self) -> list[float]:
        plan = self.schedule or Constant(self.rate or 0.0, self.warmup_s + self.duration_s)
        return arrival_times(plan, self.max_requests)

    @property
    def span_s(self) -> float:
        return self.schedule.duration_s if self.schedule else self.warmup_s + self.duration_s


@dataclass(slots=True)
class LoadResult:
    sent: int
    seconds: float
    codes: dict[str, int]
    latency_ms: dict[str, float]
    generator_cpu_s: float
    samples_ms: list[float] = field(default_factory=list, repr=False)
    cpu_share: float = 0.0
    send_lag_ms: dict[str, float] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list, repr=False)
    histogram: dict[str, Any] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)
    processes: int = 1

    @property
    def completed(self) -> int:
        return sum(self.codes.values())

    @property
    def ok(self) -> int:
        return sum(n for label, n in self.codes.items() if label.rsplit("/", 1)[-1] == "OK")

    def row(self, case: str, baseline_rps: float) -> dict[str, object]:
        """This run as a row of a bench table, its rate also as a share of `baseline_rps`."""
        return {
            "case": case,
            "rps": self.rps,
            "p50_ms": self.latency_ms["p50"],
            "p99_ms": self.latency_ms["p99"],
            "vs_echo": self.rps / baseline_rps if baseline_rps else 0.0,
            "ok": self.ok,
            "errors": self.completed - self.ok,
            "gen_cpu": self.generator_cpu_share,
        }

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def generator_cpu_share(self) -> float:
        """The busiest generator process's CPU over its wall time: near 1.0 means the generator
        is the bottleneck."""
        return self.cpu_share


def _factory(name: str) -> Callable[[int], Request]:
    module, _, function = name.partition(":")
    built: Callable[[int], Request] = getattr(importlib.import_module(module), function)
    return built


async def outcome_of(call: Any, reasons: bool) -> str:
    """ "OK", "CODE", or "CODE:REASON" when the status carries a google.rpc ErrorInfo, or
    "CODE:ENVOY_OVERLOADED" when an Envoy answered for a tripped circuit breaker (it marks those
    with `x-envoy-overloaded`): load shed by the mesh, not a failure of the service.

    It reads the call's status instead of awaiting its response: a refusal then costs the
    generator no exception (an AioRpcError with its traceback), which in a flash sale, where
    nearly every answer is SOLD_OUT, was a quarter of the generator's CPU per call."""
    code = str((await call.code()).name)
    if not reasons or code == "OK":
        return code
    from google.rpc import error_details_pb2, status_pb2

    metadata = [*(await call.initial_metadata() or ()), *(await call.trailing_metadata() or ())]
    for key, value in metadata:
        if key == "x-envoy-overloaded":
            return f"{code}:ENVOY_OVERLOADED"
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.reason:
                    return f"{code}:{info.reason}"
    return code


@dataclass
class _Part:
    """What one generator process hands back."""

    recorder: driver.Recorder
    sent: int
    end: float
    cpu_s: float
    wall_s: float


async def _drive(spec: LoadSpec, part: int, barrier: Any, report: Any) -> _Part:
    import grpc

    make = _factory(spec.requests)
    times = spec.due_times() if spec.open_loop else []
    count = len(times) if spec.open_loop else spec.max_requests
    indices = driver.shard(count, part, spec.processes)
    built = {i: make(i) for i in indices}
    bodies = {i: b if isinstance(b, tuple) else ("", spec.method, b) for i, b in built.items()}
    options: list[tuple[str, Any]] = [("grpc.enable_retries", 0)]
    if spec.connections > 1:
        options.append(("grpc.use_local_subchannel_pool", 1))
    channels = [
        grpc.aio.insecure_channel(spec.target, options=options) for _ in range(spec.connections)
    ]
    calls: dict[tuple[int, str], Any] = {}
    metadata = spec.metadata or None

    async def send(index: int) -> str:
        kind, method, body = bodies[index]
        key = (index % len(channels), method)
        call = calls.get(key) or calls.setdefault(key, channels[key[0]].unary_unary(method))
        answer = call(body, timeout=spec.timeout_s, metadata=metadata)
        outcome = await outcome_of(answer, spec.reasons)
        return f"{kind}/{outcome}" if kind else outcome

    for channel in channels:  # connect before the clock starts
        await asyncio.wait_for(channel.channel_ready(), spec.timeout_s + 10)
    await asyncio.to_thread(barrier.wait, 60)  # every generator process is ready: go together
    clock = time.perf_counter
    start = clock() + 0.05
    recorder = driver.Recorder(start + spec.warmup_s, spec.window_s)
    ticker = asyncio.create_task(_report_progress(recorder, part, report))
    await asyncio.sleep(max(0.0, start - clock()))
    cpu0, wall0 = _cpu(), clock()
    try:
        if spec.open_loop:
            mine = [times[i] for i in indices]
            sent = await driver.open_loop(send, indices, mine, start, clock, recorder)
        else:
            callers = max(1, spec.in_flight // spec.processes)
            stop_at = start + spec.warmup_s + spec.duration_s
            sent = await driver.closed_loop(send, indices, callers, stop_at, clock, recorder)
        end = clock()
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        for channel in channels:
            await channel.close()
    report(("progress", part, dict(recorder.progress)))
    return _Part(recorder, sent, end, _cpu() - cpu0, end - wall0)


async def _report_progress(recorder: driver.Recorder, part: int, report: Any) -> None:
    while True:
        await asyncio.sleep(_PROGRESS_EVERY_S)
        report(("progress", part, dict(recorder.progress)))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(spec: LoadSpec, part: int, barrier: Any, queue: Any) -> None:
    try:
        import uvloop

        runner: Callable[[Any], _Part] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    try:
        done = runner(_drive(spec, part, barrier, queue.put))
        queue.put(("result", part, done))
    except BaseException as exc:
        queue.put(("error", part, f"{type(exc).__name__}: {exc}"))
        raise


def merge(spec: LoadSpec, parts: list[_Part]) -> LoadResult:
    """One result from every generator process's recorder (they share the same time origin
    up to clock offsets, so windows line up by index)."""
    total = driver.Recorder(0.0, spec.window_s)
    for p in parts:
        total.latency.merge(p.recorder.latency)
        total.send_lag.merge(p.recorder.send_lag)
        total.outcomes.update(p.recorder.outcomes)
        for index, window in p.recorder.windows.items():
            total.windows.setdefault(index, driver.Window()).merge(window)
    seconds = max(driver.measured_seconds(p.recorder, p.end) for p in parts)
    share = max((p.cpu_s / p.wall_s if p.wall_s else 0.0) for p in parts)
    result = LoadResult(
        sent=sum(p.sent for p in parts),
        seconds=seconds,
        codes=dict(total.outcomes),
        latency_ms=total.latency.summary(),
        generator_cpu_s=sum(p.cpu_s for p in parts),
        cpu_share=share,
        send_lag_ms=total.send_lag.summary(),
        timeline=total.timeline(),
        histogram=total.latency.to_dict(),
        processes=len(parts),
    )
    result.warnings = bottleneck_warnings(result, spec.open_loop)
    return result


def bottleneck_warnings(result: LoadResult, open_loop: bool) -> list[str]:
    found = []
    if result.cpu_share >= CPU_WARN_SHARE:
        found.append(
            f"generator CPU at {result.cpu_share:.0%} of a core: it may be the bottleneck "
            "(use more --processes, or fewer requests)"
        )
    lag = result.send_lag_ms.get("p99", 0.0)
    if open_loop and lag > LAG_WARN_MS:
        found.append(
            f"generator sent late (p99 {lag:.1f} ms behind schedule): offered load was lower "
            "than planned and latency includes the generator's own queue"
        )
    return found


def rpc_bench_parser(
    prog: str, description: str | None, *, rounds: bool
) -> argparse.ArgumentParser:
    """The options every per-service RPC bench takes: seconds per case, requests in flight,
    the Redis to use, and (with `rounds`) how many interleaved rounds to run."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per case")
    parser.add_argument("--in-flight", type=int, default=64)
    if rounds:
        parser.add_argument(
            "--rounds", type=int, default=2, help="interleaved rounds of every case (best kept)"
        )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    return parser


def interleaved(
    specs: Mapping[str, LoadSpec],
    rounds: int,
    before_round: Callable[[int], None] | None = None,
) -> dict[str, list[LoadResult]]:
    """Each spec run `rounds` times, interleaved (a, b, c, a, b, c, ...): a neighbour that slows
    the machine for a while then slows every case alike, instead of whichever case happened to
    run then. `before_round(k)` runs before round k."""
    found: dict[str, list[LoadResult]] = {name: [] for name in specs}
    for k in range(max(1, rounds)):
        if before_round is not None:
            before_round(k)
        for name, spec in specs.items():
            found[name].append(run(spec))
    return found


def fastest(results: Mapping[str, list[LoadResult]]) -> dict[str, LoadResult]:
    """The fastest run of each case."""
    return {name: max(runs, key=lambda r: r.rps) for name, runs in results.items()}


def run(spec: LoadSpec) -> LoadResult:
    """Run the generator in `spec.processes` separate processes and return what they measured."""
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    barrier = context.Barrier(spec.processes)
    children = [
        context.Process(target=_child, args=(spec, k, barrier, queue), daemon=True)
        for k in range(spec.processes)
    ]
    for child in children:
        child.start()
    total = len(spec.due_times()) if spec.open_loop else spec.max_requests
    progress = Progress(spec.progress, total) if spec.progress else None
    parts: dict[int, _Part] = {}
    deadline = time.monotonic() + spec.span_s + spec.timeout_s + 120
    try:
        while len(parts) < len(children):
            try:
                kind, part, payload = queue.get(timeout=0.5)
            except queue_module.Empty:
                _check_alive(children, parts, deadline)
                continue
            if kind == "result":
                parts[part] = payload
            elif kind == "error":
                raise RuntimeError(f"load generator process {part} failed: {payload}")
            elif progress is not None:
                progress.update(part, payload)
    finally:
        if progress is not None:
            progress.close()
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
    return merge(spec, [parts[k] for k in sorted(parts)])


def _check_alive(children: list[Any], parts: dict[int, _Part], deadline: float) -> None:
    for k, child in enumerate(children):
        if k not in parts and child.exitcode is not None:
            raise RuntimeError(f"load generator process {k} exited with {child.exitcode}")
    if time.monotonic() > deadline:
        raise TimeoutError("the load generator did not finish in time")


def replace(spec: LoadSpec, **changes: Any) -> LoadSpec:
    return dataclasses.replace(spec, **changes)


def cores() -> int:
    return os.cpu_count() or 1
