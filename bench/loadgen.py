"""A gRPC load generator that runs in its own process.

Closed loop (default): `in_flight` callers each send the next request as soon as the previous one
answers — the right tool for a maximum-throughput figure. Open loop (`rate` set): requests are
sent on a fixed schedule whether or not earlier ones answered, and latency is measured from the
*scheduled* send time, so a server that falls behind shows its queueing (no coordinated omission).

Requests are raw serialized protobuf bytes from a factory named "module:function" (called with the
request index), built before the clock starts so the generator spends its time sending.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import resource
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


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


@dataclass(slots=True)
class LoadResult:
    sent: int
    seconds: float
    codes: dict[str, int]
    latency_ms: dict[str, float]
    generator_cpu_s: float
    samples_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def completed(self) -> int:
        return sum(self.codes.values())

    @property
    def ok(self) -> int:
        return self.codes.get("OK", 0)

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def generator_cpu_share(self) -> float:
        """Generator CPU time over wall time: near 1.0 means the generator is the bottleneck."""
        return self.generator_cpu_s / self.seconds if self.seconds else 0.0


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """Nearest-rank percentiles of latency samples (ms)."""
    if not samples_ms:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:
        index = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
        return ordered[index]

    return {
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "p999": rank(0.999),
        "max": ordered[-1],
    }


def _factory(name: str) -> Callable[[int], bytes]:
    module, _, function = name.partition(":")
    built: Callable[[int], bytes] = getattr(importlib.import_module(module), function)
    return built


async def _drive(spec: LoadSpec) -> LoadResult:
    import grpc

    make = _factory(spec.requests)
    bodies = [make(i) for i in range(spec.max_requests)]
    codes: Counter[str] = Counter()
    samples: list[float] = []
    async with grpc.aio.insecure_channel(
        spec.target, options=[("grpc.enable_retries", 0)]
    ) as channel:
        call = channel.unary_unary(spec.method)
        next_index = 0

        async def one(index: int, scheduled: float, record: bool) -> None:
            try:
                await call(bodies[index], timeout=spec.timeout_s, metadata=spec.metadata or None)
                code = "OK"
            except grpc.aio.AioRpcError as error:
                code = error.code().name
            if record:
                samples.append((time.perf_counter() - scheduled) * 1000)
                codes[code] += 1

        start = time.perf_counter()
        measure_from = start + spec.warmup_s
        stop_at = measure_from + spec.duration_s
        cpu_before = 0.0
        if spec.rate is None:

            async def worker() -> None:
                nonlocal next_index
                while next_index < len(bodies):
                    now = time.perf_counter()
                    if now >= stop_at:
                        return
                    index, next_index = next_index, next_index + 1
                    await one(index, now, now >= measure_from)

            warm = asyncio.create_task(asyncio.sleep(spec.warmup_s))
            workers = [asyncio.create_task(worker()) for _ in range(spec.in_flight)]
            await warm
            cpu_before = _cpu()
            await asyncio.gather(*workers)
        else:
            cpu_before = await _open_loop(spec, one, len(bodies), start, measure_from, stop_at)
        seconds = time.perf_counter() - measure_from
        cpu = _cpu() - cpu_before
    return LoadResult(next_index, seconds, dict(codes), percentiles(samples), cpu, samples)


async def _open_loop(
    spec: LoadSpec,
    one: Callable[[int, float, bool], object],
    available: int,
    start: float,
    measure_from: float,
    stop_at: float,
) -> float:
    assert spec.rate is not None
    interval = 1.0 / spec.rate
    pending: set[asyncio.Task[None]] = set()
    cpu_before = -1.0
    index = 0
    while index < available:
        scheduled = start + index * interval
        if scheduled >= stop_at:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if cpu_before < 0 and scheduled >= measure_from:
            cpu_before = _cpu()
        task = asyncio.ensure_future(one(index, scheduled, scheduled >= measure_from))  # type: ignore[arg-type]
        pending.add(task)
        task.add_done_callback(pending.discard)
        index += 1
    if pending:
        await asyncio.gather(*pending)
    return max(cpu_before, 0.0)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(spec: LoadSpec, queue: multiprocessing.Queue[LoadResult]) -> None:
    try:
        import uvloop

        result = uvloop.run(_drive(spec))
    except ImportError:
        result = asyncio.run(_drive(spec))
    queue.put(result)


def run(spec: LoadSpec) -> LoadResult:
    """Run the generator in a separate process and return what it measured."""
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[LoadResult] = context.Queue()
    process = context.Process(target=_child, args=(spec, queue), daemon=True)
    process.start()
    try:
        result = queue.get(timeout=spec.warmup_s + spec.duration_s + 120)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    return result
