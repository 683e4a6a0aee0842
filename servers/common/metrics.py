"""Prometheus metrics of one process: RPCs by method and code, and Python runtime health.

Each server owns a `Metrics` with its own registry (tests run several servers in one process).
Runtime alerts follow BRIEF.md: GC pause p99 > 100 ms, live asyncio tasks > 5,000, RSS > 1.5 GB.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

_log = logging.getLogger("shopmesh.metrics")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Limits past which the runtime monitor raises an alert (logged and exported as a gauge)."""

    gc_pause_p99_s: float = 0.100
    asyncio_tasks: int = 5_000
    rss_bytes: int = 1_500 * 1024 * 1024


class Metrics:
    """The metrics of one server process."""

    def __init__(self, service: str, thresholds: AlertThresholds | None = None) -> None:
        self.service = service
        self.thresholds = thresholds or AlertThresholds()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.rpc_total = Counter(
            "shopmesh_rpc_total",
            "RPCs served",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.rpc_seconds = Histogram(
            "shopmesh_rpc_duration_seconds",
            "RPC handling time",
            ["service", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.gc_pause = Histogram(
            "shopmesh_gc_pause_seconds", "Garbage-collector pauses", registry=self.registry
        )
        self.tasks = Gauge("shopmesh_asyncio_tasks", "Live asyncio tasks", registry=self.registry)
        self.rss = Gauge("shopmesh_rss_bytes", "Resident set size", registry=self.registry)
        self.alert = Gauge(
            "shopmesh_runtime_alert",
            "1 while a runtime alert fires",
            ["alert"],
            registry=self.registry,
        )
        self._recent_pauses: collections.deque[float] = collections.deque(maxlen=512)
        self._gc_started = 0.0
        self._http: WSGIServer | None = None
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        """Count one finished RPC (the label children are cached: this is on the hot path)."""
        children = self._children.get((method, code))
        if children is None:
            children = (
                self.rpc_total.labels(self.service, method, code),
                self.rpc_seconds.labels(self.service, method),
            )
            self._children[(method, code)] = children
        children[0].inc()
        children[1].observe(seconds)

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            pause = time.perf_counter() - self._gc_started
            self._gc_started = 0.0
            self.gc_pause.observe(pause)
            self._recent_pauses.append(pause)

    def start_http(self, host: str, port: int) -> int:
        """Serve `/metrics` on host:port (0 picks a port); returns the bound port."""
        self._http, _thread = start_http_server(port, host, registry=self.registry)
        gc.callbacks.append(self._on_gc)
        return int(self._http.server_port)

    def stop_http(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def sample_runtime(self) -> list[str]:
        """Refresh the runtime gauges and return the names of the alerts now firing."""
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # called outside the event loop
            tasks = 0
        rss = _rss_bytes()
        self.tasks.set(tasks)
        self.rss.set(rss)
        pauses = sorted(self._recent_pauses)
        p99 = pauses[int(len(pauses) * 0.99) - 1] if len(pauses) >= 100 else 0.0
        firing = {
            "gc_pause_p99": p99 > self.thresholds.gc_pause_p99_s,
            "asyncio_tasks": tasks > self.thresholds.asyncio_tasks,
            "rss": rss > self.thresholds.rss_bytes,
        }
        for name, on in firing.items():
            self.alert.labels(name).set(1 if on else 0)
        names = [name for name, on in firing.items() if on]
        for name in names:
            _log.warning(
                "runtime alert", extra={"alert": name, "tasks": tasks, "rss": rss, "gc_p99_s": p99}
            )
        return names

    async def monitor(self, interval_s: float = 5.0) -> None:
        """Sample the runtime every `interval_s` until cancelled."""
        while True:
            self.sample_runtime()
            await asyncio.sleep(interval_s)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:  # not Linux: peak RSS is the best portable figure
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
