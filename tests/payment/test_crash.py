"""kill -9 of a real gateway process between claim and outcome, restart, retry: the retry takes
over the dead claim, resumes from its recovery point and answers once, with the same record."""

from __future__ import annotations

import asyncio
import pathlib
import time

import grpc
import pytest

from servers.common import sql
from servers.payment.domain import Outcome, RecoveryPoint
from servers.payment.records import SqlPaymentRecords
from shop.payment.v1 import payment_pb2 as pb
from shop.payment.v1 import payment_pb2_grpc
from tests.payment.conftest import callback
from tests.payment.processes import (
    call_until_answered,
    gateway_env,
    spawn_gateway,
    wait_for_point,
)
from tests.services import free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


@pytest.mark.parametrize("point", [RecoveryPoint.STARTED, RecoveryPoint.ORDER_DONE])
async def test_kill_9_between_claim_and_outcome_then_restart_and_retry(
    point: RecoveryPoint,
    redis_url: str,
    key_prefix: str,
    database_dsn: str,
    database: sql.Database,
    tmp_path: pathlib.Path,
) -> None:
    env = gateway_env(
        redis_url, key_prefix, database_dsn, f"127.0.0.1:{free_port()}",
        PAYMENT_LOCK_TIMEOUT_S="2",
    )  # fmt: skip
    log = tmp_path / "gateway.log"
    records = SqlPaymentRecords(database)
    request = callback("crash-1", failed=True)
    doomed = await spawn_gateway({**env, "PAYMENT_HOLD_AT": f"{point.value}:60"}, log)
    try:
        async with grpc.aio.insecure_channel(doomed.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            in_flight = asyncio.ensure_future(stub.HandleCallback(request, timeout=30))
            await wait_for_point(records, request_key(request), point)
            doomed.kill_9()
            with pytest.raises(grpc.aio.AioRpcError) as lost:
                await in_flight
            assert lost.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        doomed.stop()
    orphan = await records.get(request_key(request))
    assert orphan is not None and not orphan.done
    restarted = await spawn_gateway(env, log)
    try:
        async with grpc.aio.insecure_channel(restarted.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            answer, _aborted = await call_until_answered(stub, request)
            answered_ms = time.time_ns() // 1_000_000
            replay = await stub.HandleCallback(callback("crash-1", failed=True))
    finally:
        restarted.stop()
    # The dead holder's lock was honoured until it timed out, then taken over.
    assert answered_ms >= orphan.locked_ms + 2_000
    assert answer.payment.record_id == orphan.record_id  # resumed, not redone
    assert answer.payment.outcome == pb.PAYMENT_OUTCOME_FAILED_RECORDED
    assert replay.SerializeToString() == answer.SerializeToString()
    final = await records.get(request_key(request))
    assert final is not None and final.done and final.outcome is Outcome.FAILED_RECORDED


def request_key(request: pb.HandleCallbackRequest) -> tuple[str, str]:
    return request.provider, request.payment_id
