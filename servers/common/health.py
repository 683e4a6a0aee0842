"""gRPC health driven by real dependency checks (Redis reachable, SQL reachable, ...)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from grpc_health.v1 import health, health_pb2

_log = logging.getLogger("shopmesh.health")

Check = Callable[[], Awaitable[None]]


class HealthMonitor:
    """Runs every check periodically and reports SERVING only while all of them pass."""

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        service_names: list[str],
        checks: Mapping[str, Check],
        interval_s: float,
        timeout_s: float = 1.0,
    ) -> None:
        self._servicer = servicer
        self._names = ["", *service_names]
        self._checks = dict(checks)
        self._interval = interval_s
        self._timeout = timeout_s
        self.failing: list[str] = []

    async def check_once(self) -> bool:
        failing = []
        for name, check in self._checks.items():
            try:
                await asyncio.wait_for(check(), self._timeout)
            except Exception as exc:  # any failure means the dependency is not usable
                failing.append(name)
                if name not in self.failing:
                    _log.warning("health check failed", extra={"check": name, "error": repr(exc)})
        self.failing = failing
        status = (
            health_pb2.HealthCheckResponse.NOT_SERVING
            if failing
            else health_pb2.HealthCheckResponse.SERVING
        )
        for service in self._names:
            await self._servicer.set(service, status)
        return not failing

    async def run(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self._interval)

    async def shut_down(self) -> None:
        """Report NOT_SERVING everywhere so load balancers stop sending before the drain."""
        await self._servicer.enter_graceful_shutdown()
