"""HandleCallback and GetPayment over real gRPC, real Redis and real SQLite/MariaDB: signature,
tolerance, validation, replay bytes, payload mismatch, SQL dedupe after Redis forgot, in-flight
ABORTED, order service down. Callbacks here report failed payments (no order call) or meet a
down order service; the paid path against the real order stack is in test_order_stack.py."""

from __future__ import annotations

import asyncio
import json
import pathlib
import sys
import time

import grpc
import pytest
import redis.asyncio as aioredis
from google.rpc import error_details_pb2

from servers.common import sql
from servers.payment.domain import RecoveryPoint
from shop.payment.v1 import payment_pb2 as pb
from tests.helpers import error_reason, status_details, violated_fields
from tests.payment.conftest import (
    PaymentUnderTest,
    callback,
    payment_settings,
    start_payment,
    stop_payment,
)
from tests.services import require

pytestmark = pytest.mark.asyncio


async def _code(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def _not_recorded(payment: PaymentUnderTest, payment_id: str) -> None:
    request = pb.GetPaymentRequest(provider="acme", payment_id=payment_id)
    error = await _code(payment.stub.GetPayment(request))
    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_failed_payment_is_recorded_and_replays_return_the_same_bytes(
    payment: PaymentUnderTest,
) -> None:
    first = await payment.stub.HandleCallback(callback("f-1", failed=True))
    # A provider retry a minute later signs a fresh timestamp; it is still the same callback.
    retry = callback("f-1", failed=True, timestamp_s=int(time.time()) + 60)
    replay = await payment.stub.HandleCallback(retry)
    assert first.payment.outcome == pb.PAYMENT_OUTCOME_FAILED_RECORDED
    assert first.payment.provider_status == pb.PROVIDER_STATUS_FAILED
    assert first.payment.record_id > 0 and first.payment.amount.units == 12
    assert replay.SerializeToString() == first.SerializeToString()
    assert payment.gateway.stats.redis_replays == 1
    got = await payment.stub.GetPayment(pb.GetPaymentRequest(provider="acme", payment_id="f-1"))
    assert got.payment == first.payment


async def test_rotated_secrets_verify_and_bad_signatures_record_nothing(
    payment: PaymentUnderTest,
) -> None:
    old = await payment.stub.HandleCallback(callback("r-1", failed=True, secret="acme-old-secret"))
    assert old.payment.outcome == pb.PAYMENT_OUTCOME_FAILED_RECORDED
    tampered = callback("r-2", failed=True)
    tampered.amount.units = 1
    for request in (
        callback("r-2", failed=True, secret="other-secret"),
        callback("r-2", failed=True, provider="nobody", secret="x"),
        tampered,
    ):
        error = await _code(payment.stub.HandleCallback(request))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED
        assert error_reason(error) == "BAD_SIGNATURE"
    await _not_recorded(payment, "r-2")


@pytest.mark.parametrize("skew_s", [-301, 301, -86_400])
async def test_stale_or_future_timestamps_are_expired_and_record_nothing(
    payment: PaymentUnderTest, skew_s: int
) -> None:
    request = callback("t-1", failed=True, timestamp_s=int(time.time()) + skew_s)
    error = await _code(payment.stub.HandleCallback(request))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "CALLBACK_EXPIRED"
    await _not_recorded(payment, "t-1")


async def test_malformed_callbacks_name_their_fields(payment: PaymentUnderTest) -> None:
    request = callback("m-1", failed=True)
    request.ClearField("timestamp")
    request.order_id = 0
    request.signature = "nothex"
    error = await _code(payment.stub.HandleCallback(request))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["order_id", "timestamp", "signature"]
    empty = await _code(payment.stub.HandleCallback(pb.HandleCallbackRequest()))
    assert set(violated_fields(empty)) == {
        "provider", "payment_id", "order_id", "amount", "status", "timestamp", "signature"
    }  # fmt: skip
    bad_get = await _code(payment.stub.GetPayment(pb.GetPaymentRequest(provider="acme")))
    assert violated_fields(bad_get) == ["payment_id"]
    await _not_recorded(payment, "m-1")


async def test_same_key_other_payload_is_refused_from_redis_and_from_sql(
    payment: PaymentUnderTest, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    first = await payment.stub.HandleCallback(callback("p-1", failed=True))
    for forget_redis in (False, True):
        if forget_redis:
            await _forget_redis(redis_client, key_prefix)
        error = await _code(payment.stub.HandleCallback(callback("p-1", amount="99.00")))
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert error_reason(error) == "PAYLOAD_MISMATCH"
    got = await payment.stub.GetPayment(pb.GetPaymentRequest(provider="acme", payment_id="p-1"))
    assert got.payment == first.payment


async def _forget_redis(client: aioredis.Redis, prefix: str) -> None:
    """What a claim TTL, a flush or a failover does: Redis knows nothing about our keys."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    assert keys
    await client.delete(*keys)


async def test_replay_after_redis_forgot_is_still_deduplicated_by_sql(
    payment: PaymentUnderTest, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    first = await payment.stub.HandleCallback(callback("s-1", failed=True))
    await _forget_redis(redis_client, key_prefix)
    replay = await payment.stub.HandleCallback(callback("s-1", failed=True))
    again = await payment.stub.HandleCallback(callback("s-1", failed=True))
    assert replay.SerializeToString() == first.SerializeToString()
    assert again.SerializeToString() == first.SerializeToString()
    assert payment.gateway.stats.sql_replays == 1  # the SQL answer refilled the fast path
    assert payment.gateway.stats.redis_replays == 1
    assert payment.gateway.stats.processed == 1


async def test_order_service_down_is_unavailable_and_leaves_the_key_retryable(
    payment: PaymentUnderTest,
) -> None:
    for _ in range(2):  # the second try is not ABORTED: the failed attempt gave its lock back
        error = await _code(payment.stub.HandleCallback(callback("d-1"), timeout=10))
        assert error.code() is grpc.StatusCode.UNAVAILABLE
    got = await payment.stub.GetPayment(pb.GetPaymentRequest(provider="acme", payment_id="d-1"))
    assert got.payment.outcome == pb.PAYMENT_OUTCOME_UNSPECIFIED


async def test_a_callback_in_flight_is_aborted_with_retry_info_and_never_runs_twice(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    database: sql.Database,
    database_dsn: str,
) -> None:
    holds = {RecoveryPoint.STARTED: 0.5}
    settings = payment_settings(redis_url, key_prefix, database_dsn, holds=holds)
    payment = await start_payment(settings, redis_client, database)
    try:
        first = asyncio.ensure_future(payment.stub.HandleCallback(callback("i-1", failed=True)))
        await asyncio.sleep(0.2)
        error = await _code(payment.stub.HandleCallback(callback("i-1", failed=True)))
        assert error.code() is grpc.StatusCode.ABORTED
        assert error_reason(error) == "CALLBACK_IN_FLIGHT"
        retry = [d for d in status_details(error) if isinstance(d, error_details_pb2.RetryInfo)]
        assert retry and retry[0].retry_delay.ToMilliseconds() == 200
        answer = await first
        replay = await payment.stub.HandleCallback(callback("i-1", failed=True))
        assert replay.SerializeToString() == answer.SerializeToString()
        assert payment.gateway.stats.processed == 1
    finally:
        await stop_payment(payment)


async def test_the_sign_cli_body_goes_through_grpcurl(payment: PaymentUnderTest) -> None:
    """The README's path: `python -m servers.payment.sign ... | grpcurl -d @ ...`."""
    grpcurl = pathlib.Path(sys.executable).with_name("grpcurl")
    require(grpcurl.exists(), "grpcurl is not installed in the venv")
    sign = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "servers.payment.sign", "--provider", "acme",
        "--secret", "acme-old-secret", "--order-id", "9", "--amount", "5.00",
        "--payment-id", "cli-1", "--status", "failed", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    body, _ = await sign.communicate()
    call = await asyncio.create_subprocess_exec(
        str(grpcurl), "-plaintext", "-d", "@", payment.running.address,
        "shop.payment.v1.PaymentService/HandleCallback",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await call.communicate(body)
    assert call.returncode == 0
    answer = json.loads(out)
    assert answer["payment"]["outcome"] == "PAYMENT_OUTCOME_FAILED_RECORDED"
    assert answer["payment"]["paymentId"] == "cli-1"


class _BlackHole:
    """A TCP server that accepts connections and never sends a byte (a hung peer)."""

    def __init__(self) -> None:
        self.sessions: list[tuple[asyncio.StreamWriter, asyncio.Future[None]]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sessions.append((writer, done))
        try:
            await reader.read(-1)
        finally:
            writer.close()
            done.set_result(None)

    async def close(self) -> None:
        for writer, done in self.sessions:
            writer.close()
            await done


async def test_the_callers_deadline_bounds_the_order_call_and_leaves_the_key_resumable(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    database: sql.Database,
    database_dsn: str,
) -> None:
    """An order service that accepts connections but never answers: the order call must give up
    with the caller's deadline (not its own 5 s default), and the key must be free again."""
    hole = _BlackHole()
    silent = await asyncio.start_server(hole.handle, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings = payment_settings(redis_url, key_prefix, database_dsn, f"127.0.0.1:{port}")
    payment = await start_payment(settings, redis_client, database)
    try:
        started = time.monotonic()
        error = await _code(payment.stub.HandleCallback(callback("dl-1"), timeout=0.5))
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 2
        record = None
        claim_key = payment.gateway.claim_key(("acme", "dl-1"))
        # The server side notices the cancellation a moment later, then gives the key back in
        # two steps (SQL lock, then the Redis claim): wait for the whole give-back.
        for _ in range(100):
            record = await payment.gateway.get_payment(("acme", "dl-1"))
            if record.locked_ms == 0 and not await redis_client.exists(claim_key):
                break
            await asyncio.sleep(0.02)
        assert record is not None and record.locked_ms == 0 and not record.done
        assert await redis_client.exists(claim_key) == 0
    finally:
        await stop_payment(payment)
        silent.close()
        await hole.close()
        await silent.wait_closed()
