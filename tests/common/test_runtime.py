"""The shared server runtime on a real server: error mapping, deadlines, health, metrics and
graceful shutdown. The service under test is a real InventoryService servicer whose methods are
replaced by small behaviours, so every path is exercised over the wire."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis.exceptions
from grpc_health.v1 import health_pb2, health_pb2_grpc

from servers.common import deadline, errors
from servers.common.server import ROUND_GRACE_S, Periodic, RunningServer, ServiceApp, start
from servers.common.settings import ServerSettings
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc
from tests.helpers import error_reason, status_details

pytestmark = pytest.mark.asyncio
NAME = "shop.inventory.v1.InventoryService"


class Scripted(inventory_pb2_grpc.InventoryServiceServicer):  # type: ignore[misc]
    """GetStock runs whatever behaviour the test installs."""

    def __init__(self) -> None:
        self.behaviour: Callable[[], Any] = lambda: None

    async def GetStock(self, request: pb.GetStockRequest, context: Any) -> pb.GetStockResponse:
        result = self.behaviour()
        if asyncio.iscoroutine(result):
            result = await result
        return pb.GetStockResponse(stock=pb.Stock(sku=str(result)))


class Harness:
    def __init__(self, running: RunningServer, servicer: Scripted, healthy: list[bool]) -> None:
        self.running = running
        self.servicer = servicer
        self.healthy = healthy
        self.channel = grpc.aio.insecure_channel(running.address)
        self.stub = inventory_pb2_grpc.InventoryServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    servicer = Scripted()
    healthy = [True]

    async def check() -> None:
        if not healthy[0]:
            raise ConnectionError("dependency down")

    app = ServiceApp(
        service_names=[NAME],
        register=lambda server: inventory_pb2_grpc.add_InventoryServiceServicer_to_server(
            servicer, server
        ),
        checks={"fake-dependency": check},
        dependency_errors={redis.exceptions.ConnectionError: "redis"},
    )
    settings = ServerSettings(
        service="probe", port=0, metrics_port=0, health_interval_s=0.05, grace_s=2
    )
    running = await start(app, settings)
    h = Harness(running, servicer, healthy)
    yield h
    await h.channel.close()
    await running.stop(0)


@pytest.mark.parametrize(
    ("raised", "code", "reason"),
    [
        (errors.InvalidArgument.single("sku", "bad"), grpc.StatusCode.INVALID_ARGUMENT, ""),
        (errors.NotFound("product", "x"), grpc.StatusCode.NOT_FOUND, ""),
        (
            errors.PreconditionFailed("SOLD_OUT", "inventory.shopmesh", "gone"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SOLD_OUT",
        ),
        (
            errors.Unauthenticated("BAD_SIGNATURE", "payment.shopmesh", "no"),
            grpc.StatusCode.UNAUTHENTICATED,
            "BAD_SIGNATURE",
        ),
        (errors.Overloaded("busy", 0.25), grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
        (errors.Conflict("in flight", 1.0), grpc.StatusCode.ABORTED, ""),
        (
            errors.DependencyUnavailable("sql"),
            grpc.StatusCode.UNAVAILABLE,
            "DEPENDENCY_UNAVAILABLE",
        ),
        (
            redis.exceptions.ConnectionError("refused"),
            grpc.StatusCode.UNAVAILABLE,
            "DEPENDENCY_UNAVAILABLE",
        ),
    ],
)
async def test_domain_errors_become_statuses_with_details(
    harness: Harness, raised: BaseException, code: grpc.StatusCode, reason: str
) -> None:
    def fail() -> None:
        raise raised

    harness.servicer.behaviour = fail
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.GetStock(pb.GetStockRequest(sku="a"))
    assert caught.value.code() == code
    assert status_details(caught.value), "every known error carries google.rpc details"
    assert error_reason(caught.value) == reason


async def test_retry_info_carries_the_delay(harness: Harness) -> None:
    def fail() -> None:
        raise errors.Overloaded("busy", 1.5)

    harness.servicer.behaviour = fail
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.GetStock(pb.GetStockRequest(sku="a"))
    (retry,) = status_details(caught.value)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 500_000_000)


async def test_unexpected_errors_are_internal_without_leaking(harness: Harness) -> None:
    def fail() -> None:
        raise KeyError("secret-table-name")

    harness.servicer.behaviour = fail
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.GetStock(pb.GetStockRequest(sku="a"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (caught.value.details() or "")


async def test_remaining_deadline_is_visible_to_downstream_calls(harness: Harness) -> None:
    harness.servicer.behaviour = lambda: f"{deadline.remaining(30.0):.3f}"
    reply = await harness.stub.GetStock(pb.GetStockRequest(sku="a"), timeout=2.0)
    assert 1.0 < float(reply.stock.sku) <= 2.1  # grpc rounds the wire timeout up slightly
    unbounded = await harness.stub.GetStock(pb.GetStockRequest(sku="a"))
    assert float(unbounded.stock.sku) == 30.0


async def test_health_follows_the_dependency_checks(harness: Harness) -> None:
    async def status() -> int:
        reply = await harness.health.Check(health_pb2.HealthCheckRequest(service=NAME))
        return int(reply.status)

    assert await status() == health_pb2.HealthCheckResponse.SERVING
    harness.healthy[0] = False
    await asyncio.sleep(0.3)
    assert await status() == health_pb2.HealthCheckResponse.NOT_SERVING
    harness.healthy[0] = True
    await asyncio.sleep(0.3)
    assert await status() == health_pb2.HealthCheckResponse.SERVING


async def test_metrics_endpoint_counts_rpcs_by_method_and_code(harness: Harness) -> None:
    await harness.stub.GetStock(pb.GetStockRequest(sku="a"))
    url = f"http://127.0.0.1:{harness.running.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'shopmesh_rpc_total{code="OK",method="GetStock",service="probe"} 1.0' in body
    assert "shopmesh_rpc_duration_seconds_bucket" in body
    assert "shopmesh_asyncio_tasks" in body and "shopmesh_gc_pause_seconds" in body


async def test_graceful_stop_finishes_in_flight_calls(harness: Harness) -> None:
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(0.5)
        return "finished"

    harness.servicer.behaviour = slow
    call = asyncio.ensure_future(harness.stub.GetStock(pb.GetStockRequest(sku="a")))
    await started.wait()
    await harness.running.stop(2.0)
    assert (await call).stock.sku == "finished"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await harness.stub.GetStock(pb.GetStockRequest(sku="a"), timeout=1)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_periodic_work_outlives_a_failed_round_and_stop_lets_a_round_finish() -> None:
    rounds: list[str] = []
    release, third = asyncio.Event(), asyncio.Event()

    async def once() -> None:
        rounds.append("start")
        if len(rounds) == 3:
            third.set()
        if len(rounds) == 1:
            raise errors.DependencyUnavailable("redis")  # logged; the next round goes ahead
        if len(rounds) == 2:
            raise RuntimeError("a bug")  # logged with its traceback; still goes on
        await release.wait()  # a round in progress when the stop comes
        rounds.append("finished")

    app = ServiceApp(
        service_names=[NAME], register=lambda _server: None, periodic=[Periodic("t", once, 0.01)]
    )
    running = await start(app, ServerSettings(service="periodic", port=0, metrics_port=-1))
    await asyncio.wait_for(third.wait(), 5)
    stopping = asyncio.create_task(running.stop(0))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waiting for the round, not cancelling it
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert rounds == ["start", "start", "start", "finished"]  # and no round after the stop


async def test_a_round_that_never_ends_is_cancelled_after_the_grace() -> None:
    cancelled = asyncio.Event()

    async def once() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    app = ServiceApp(
        service_names=[NAME], register=lambda _server: None, periodic=[Periodic("t", once, 1.0)]
    )
    running = await start(app, ServerSettings(service="periodic", port=0, metrics_port=-1))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(running.stop(0), ROUND_GRACE_S + 5)
    assert cancelled.is_set()
