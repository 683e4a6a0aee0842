"""Bootstrap of every shopmesh gRPC server: one place for options, health, reflection, metrics,
the error interceptor, background tasks and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from servers.common import tracing
from servers.common.errors import DependencyUnavailable
from servers.common.health import Check, HealthMonitor
from servers.common.interceptor import ServerPipeline
from servers.common.metrics import Metrics
from servers.common.settings import ServerSettings

_log = logging.getLogger("shopmesh.server")


# On shutdown, a periodic round in progress gets this long to finish before it is cancelled.
ROUND_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class Periodic:
    """Work the runtime repeats, `interval_s` after each round ends, until shutdown. A round that
    fails is logged and the next goes ahead; shutdown lets a round in progress finish (at most
    ROUND_GRACE_S) instead of cancelling it halfway through a call."""

    name: str
    once: Callable[[], Awaitable[object]]
    interval_s: float


@dataclass
class ServiceApp:
    """What a service hands to the bootstrap: its servicers, checks and background work."""

    service_names: list[str]
    register: Callable[[grpc.aio.Server], None]
    checks: Mapping[str, Check] = field(default_factory=dict)
    # long-running work (a subscription), cancelled at shutdown
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    periodic: list[Periodic] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    dependency_errors: Mapping[type[BaseException], str] = field(default_factory=dict)


@dataclass
class RunningServer:
    """A started server; `stop()` drains it gracefully."""

    server: grpc.aio.Server
    port: int
    metrics_port: int
    monitor: HealthMonitor
    metrics: Metrics
    app: ServiceApp
    grace_s: float
    tasks: list[asyncio.Task[None]]
    rounds: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace_s: float | None = None) -> None:
        """Health NOT_SERVING, stop taking calls, let in-flight calls finish, then clean up."""
        await self.monitor.shut_down()
        await self.server.stop(self.grace_s if grace_s is None else grace_s)
        self.stopping.set()  # periodic work ends after the round in progress
        if self.rounds:
            await asyncio.wait(self.rounds, timeout=ROUND_GRACE_S)
        tasks = self.tasks + self.rounds
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a background task stuck in cleanup must not hang shutdown
            _done, stuck = await asyncio.wait(tasks, timeout=2.0)
            for task in stuck:
                _log.warning(
                    "background task did not stop in time", extra={"task": task.get_name()}
                )
        for hook in self.app.on_stop:
            await hook()
        self.metrics.stop_http()


def _options(settings: ServerSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_permit_without_calls", 1),
        # gRPC core cancels (status CANCELLED) calls that arrive while more than this many wait
        # to be picked up (default 1,000): under a flash-sale burst that turns queueing into
        # errors a proxy may retry. Admission is decided by our own code instead.
        ("grpc.server.max_pending_requests", settings.max_pending_rpcs),
        ("grpc.server.max_pending_requests_hard_limit", settings.max_pending_rpcs * 2),
        ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ]


async def start(app: ServiceApp, settings: ServerSettings) -> RunningServer:
    """Start the server on settings.host:settings.port (0 picks a free port)."""
    metrics = Metrics(settings.service)
    interceptors = [
        *tracing.server_interceptors(settings.service, settings.otlp_endpoint),
        ServerPipeline(metrics, app.dependency_errors),
    ]
    server = grpc.aio.server(interceptors=interceptors, options=_options(settings))
    app.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*app.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if port == 0:
        raise OSError(f"cannot bind {settings.host}:{settings.port} (port in use?)")
    monitor = HealthMonitor(
        health_servicer, app.service_names, app.checks, settings.health_interval_s
    )
    await server.start()
    await monitor.check_once()
    metrics_port = -1
    if settings.metrics_port >= 0:
        metrics_port = metrics.start_http(settings.metrics_host, settings.metrics_port)
    tasks = [
        asyncio.create_task(monitor.run(), name="health"),
        asyncio.create_task(metrics.monitor()),
    ]
    tasks += [
        asyncio.create_task(work(), name=getattr(work, "__name__", "bg")) for work in app.background
    ]
    stopping = asyncio.Event()
    rounds = [asyncio.create_task(_repeat(work, stopping), name=work.name) for work in app.periodic]
    _log.info(
        "serving",
        extra={"port": port, "metrics_port": metrics_port, "version": settings.version},
    )
    return RunningServer(
        server, port, metrics_port, monitor, metrics, app, settings.grace_s, tasks, rounds, stopping
    )


async def _repeat(work: Periodic, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await work.once()
        except DependencyUnavailable as exc:
            _log.warning("%s: %s; next round in %.1f s", work.name, exc.message, work.interval_s)
        except Exception:
            _log.exception("%s failed; next round in %.1f s", work.name, work.interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), work.interval_s)


async def serve_until_signalled(app: ServiceApp, settings: ServerSettings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    running = await start(app, settings)
    print(
        f"{settings.service} {settings.version} listening on {settings.host}:{running.port}"
        f" (metrics :{running.metrics_port})",
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    _log.info("shutting down", extra={"grace_s": settings.grace_s})
    await running.stop()


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a service's async main on uvloop."""
    import uvloop

    uvloop.run(main())
