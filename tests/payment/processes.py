"""The payment gateway as a real `python -m servers.payment` process, for crash tests."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import grpc

from servers.payment.domain import RecoveryPoint
from servers.payment.records import SqlPaymentRecords
from shop.payment.v1 import payment_pb2 as pb
from shop.payment.v1 import payment_pb2_grpc
from tests.services import free_port

SECRETS_ENV = "acme=acme-new-secret|acme-old-secret,other=other-secret"


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    address: str

    def kill_9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_9()


def gateway_env(
    redis_url: str, key_prefix: str, dsn: str, order_target: str, **extra: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "REDIS_URL": redis_url,
        "PAYMENT_PROVIDER_SECRETS": SECRETS_ENV,
        "PAYMENT_KEY_PREFIX": key_prefix,
        "PAYMENT_ORDER_TARGET": order_target,
        "PAYMENT_BLOOM_EXPECTED": "10000",
        "SHOPMESH_METRICS_PORT": "-1",
        "SHOPMESH_LOG_LEVEL": "WARNING",
        **extra,
    }
    if dsn.startswith("mysql://"):
        env["MYSQL_DSN"] = dsn
    else:
        env["PAYMENT_SQLITE_PATH"] = dsn.removeprefix("sqlite:///")
    return env


def launch_gateway(env: dict[str, str], log: pathlib.Path) -> GatewayProcess:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "servers.payment"],
            env={**env, "SHOPMESH_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return GatewayProcess(process, f"127.0.0.1:{port}")


def _tail(log: pathlib.Path) -> str:
    return log.read_text()[-2000:]


async def spawn_gateway(env: dict[str, str], log: pathlib.Path) -> GatewayProcess:
    """Start the process and wait until it answers RPCs."""
    gateway = launch_gateway(env, log)
    deadline = time.monotonic() + 20
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        stub = payment_pb2_grpc.PaymentServiceStub(channel)
        probe = pb.GetPaymentRequest(provider="p", payment_id="x")
        while gateway.process.poll() is None and time.monotonic() < deadline:
            try:
                await stub.GetPayment(probe, timeout=1)
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.NOT_FOUND:
                    return gateway
            await asyncio.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"gateway did not start: {_tail(log)}")


async def wait_for_point(
    records: SqlPaymentRecords, key: tuple[str, str], point: RecoveryPoint, timeout_s: float = 10
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = await records.get(key)
        if record is not None and record.recovery_point is point:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{key} never reached {point}")


async def call_until_answered(
    stub: payment_pb2_grpc.PaymentServiceStub,
    request: pb.HandleCallbackRequest,
    timeout_s: float = 15,
) -> tuple[pb.HandleCallbackResponse, int]:
    """Behave like a provider: retry ABORTED after its RetryInfo delay. Returns (answer, aborts)."""
    aborted = 0
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await stub.HandleCallback(request, timeout=10), aborted
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.ABORTED or time.monotonic() > deadline:
                raise
            aborted += 1
            await asyncio.sleep(0.2)
