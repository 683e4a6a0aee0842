"""The use case: verify a callback, deduplicate it, apply it once, answer with the stored bytes.

Order of work for one delivery:
  1. signature (UNAUTHENTICATED) and timestamp tolerance (CALLBACK_EXPIRED): nothing recorded;
  2. Redis fast path: a finished key answers from Redis; a live claim is ABORTED (RetryInfo);
  3. SQL, the authority: insert the processing row, or read it (finished -> its bytes; other
     payload -> PAYLOAD_MISMATCH; live lock -> ABORTED; stale lock -> take over and resume);
  4. recovery point STARTED: decide (ConfirmPayment for a success), save ORDER_DONE;
  5. encode the answer once, store it in SQL (FINISHED) and Redis, return it.
A crash anywhere leaves a row that a later delivery resumes once the lock times out; the order
call is idempotent by payment id, so repeating step 4 after a crash pays nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from servers.common.errors import Conflict, NotFound, PreconditionFailed, ShopError, Unauthenticated
from servers.common.snowflake import Snowflake
from servers.payment.claims import Claim, ClaimStatus, RedisClaims
from servers.payment.domain import (
    DOMAIN,
    Callback,
    Outcome,
    PaymentRecord,
    ProviderStatus,
    RecoveryPoint,
)
from servers.payment.orders import OrderAnswer, OrderPort
from servers.payment.records import PaymentRecords
from servers.payment.signing import verify

Encoder = Callable[[PaymentRecord], bytes]


@dataclass(frozen=True, slots=True)
class GatewayRules:
    tolerance_s: float = 300.0
    claim_ttl_s: float = 3_600.0
    lock_timeout_s: float = 30.0
    retention_s: float = 3 * 86_400.0
    busy_retry_s: float = 0.2
    purge_interval_s: float = 60.0
    # Test/chaos hook: pause this long on reaching a recovery point (e.g. to kill -9 there).
    holds: Mapping[RecoveryPoint, float] = field(default_factory=dict)


@dataclass(slots=True)
class GatewayStats:
    """Where answers came from; the benchmark reports the Redis share of replays."""

    redis_replays: int = 0
    sql_replays: int = 0
    processed: int = 0
    busy: int = 0


class PaymentGateway:
    def __init__(
        self,
        secrets: Mapping[str, Sequence[str]],
        claims: RedisClaims,
        records: PaymentRecords,
        orders: OrderPort,
        encode: Encoder,
        ids: Snowflake,
        owner: str,
        rules: GatewayRules,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self._secrets = secrets
        self._claims = claims
        self._records = records
        self._orders = orders
        self._encode = encode
        self._ids = ids
        self._owner = owner
        self._rules = rules
        self._clock = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.stats = GatewayStats()

    async def handle(self, callback: Callback) -> bytes:
        now = self._clock()
        self._authenticate(callback, now)
        digest = callback.payload_hash()
        claim = await self._claims.claim(
            callback.key,
            digest,
            self._owner,
            now,
            int(self._rules.lock_timeout_s * 1000),
            int(self._rules.claim_ttl_s * 1000),
        )
        if claim.payload_hash != digest:
            raise _mismatch(callback)
        if claim.status is ClaimStatus.DONE:
            self.stats.redis_replays += 1
            return claim.response
        if claim.status is ClaimStatus.BUSY:
            raise self._busy()
        try:
            record = await self._own(callback, digest, claim, now)
        except ShopError:
            await self._claims.release(callback.key, self._owner)
            raise
        if record.done:
            self.stats.sql_replays += 1
            await self._remember(record, record.response)
            return record.response
        return await self._run(record)

    def claim_key(self, key: tuple[str, str]) -> str:
        """The Redis key of a callback's claim (for tools and tests)."""
        return self._claims.claim_key(key)

    def bloom_key(self, now_ms: int) -> str:
        """The Redis key of the current Bloom bitmap of shard 0 (for tools and benchmarks)."""
        return self._claims.bloom_key(0, now_ms)

    async def get_payment(self, key: tuple[str, str]) -> PaymentRecord:
        record = await self._records.get(key)
        if record is None:
            raise NotFound("payment", f"{key[0]}/{key[1]}")
        return record

    async def purge_once(self) -> None:
        """Forget finished records past the retention period (the runtime repeats it every
        `purge_interval_s`)."""
        before = self._clock() - int(self._rules.retention_s * 1000)
        while await self._records.purge(before, 500) == 500:
            pass

    def _authenticate(self, callback: Callback, now_ms: int) -> None:
        secrets = self._secrets.get(callback.provider, ())
        # An unknown provider gets the same answer as a bad signature: nothing to probe.
        if not verify(secrets, callback.signed, callback.signature):
            raise Unauthenticated("BAD_SIGNATURE", DOMAIN, "the callback signature does not verify")
        skew_s = abs(now_ms - callback.timestamp_ms) / 1000
        if skew_s > self._rules.tolerance_s:
            raise PreconditionFailed(
                "CALLBACK_EXPIRED",
                DOMAIN,
                f"callback timestamp is {skew_s:.0f}s from now (tolerance "
                f"{self._rules.tolerance_s:.0f}s)",
                {"tolerance_s": f"{self._rules.tolerance_s:g}", "skew_s": f"{skew_s:.3f}"},
            )

    async def _own(
        self, callback: Callback, digest: str, claim: Claim, now_ms: int
    ) -> PaymentRecord:
        """Become the SQL owner of the key, or learn it is finished (returned) or taken (raised)."""
        if claim.status is not ClaimStatus.NEW:
            # Bloom says maybe seen: read before inserting (usually a finished record).
            existing = await self._records.get(callback.key)
            if existing is not None:
                return await self._adopt(callback, digest, existing, now_ms)
        fresh = self._fresh(callback, digest, now_ms)
        if await self._records.insert(fresh, now_ms):
            return fresh
        existing = await self._records.get(callback.key)
        if existing is None:  # purged in between: the caller may simply retry
            raise self._busy()
        return await self._adopt(callback, digest, existing, now_ms)

    async def _adopt(
        self, callback: Callback, digest: str, existing: PaymentRecord, now_ms: int
    ) -> PaymentRecord:
        if existing.payload_hash != digest:
            raise _mismatch(callback)
        if existing.done:
            return existing
        age_ms = now_ms - existing.locked_ms
        lock_ms = int(self._rules.lock_timeout_s * 1000)
        if age_ms < lock_ms:
            raise self._busy()
        if not await self._records.take_over(existing, self._owner, now_ms):
            raise self._busy()
        return replace(existing, lock_owner=self._owner, locked_ms=now_ms)

    def _fresh(self, callback: Callback, digest: str, now_ms: int) -> PaymentRecord:
        return PaymentRecord(
            provider=callback.provider,
            payment_id=callback.payment_id,
            record_id=self._ids.next_id(),
            order_id=callback.order_id,
            amount_minor=callback.amount_minor,
            currency=callback.currency,
            status=callback.status,
            payload_hash=digest,
            created_ms=now_ms,
            lock_owner=self._owner,
            locked_ms=now_ms,
        )

    async def _run(self, record: PaymentRecord) -> bytes:
        """Resume the owned record from its recovery point to a stored answer."""
        await self._hold(RecoveryPoint.STARTED)
        if record.recovery_point is RecoveryPoint.STARTED:
            try:
                answer = await self._decide(record)
            except BaseException:
                # Order down, or the caller's deadline passed and cancelled us: give the key back
                # so the provider's retry resumes at once instead of waiting out the lock. The
                # shield lets that finish even though this task is being cancelled.
                await asyncio.shield(self._give_back(record))
                raise
            record = record.decided(answer.outcome, answer.reason)
            if not await self._records.save_decision(record, self._clock()):
                return await self._lost(record)
        await self._hold(RecoveryPoint.ORDER_DONE)
        response = self._encode(record)
        if not await self._records.finish(record, response, self._clock()):
            return await self._lost(record)
        self.stats.processed += 1
        await self._remember(record, response)
        return response

    async def _give_back(self, record: PaymentRecord) -> None:
        await self._records.unlock(record)
        await self._claims.release(record.key, self._owner)

    async def _decide(self, record: PaymentRecord) -> OrderAnswer:
        if record.status is ProviderStatus.FAILED:
            return OrderAnswer(Outcome.FAILED_RECORDED)
        return await self._orders.confirm_payment(
            record.order_id, record.payment_id, record.amount_minor, record.currency
        )

    async def _lost(self, record: PaymentRecord) -> bytes:
        """Our lock was taken over while we worked: the new owner's answer is the answer."""
        current = await self._records.get(record.key)
        if current is not None and current.done:
            return current.response
        raise self._busy()

    async def _remember(self, record: PaymentRecord, response: bytes) -> None:
        await self._claims.finish(
            record.key, record.payload_hash, response, int(self._rules.claim_ttl_s * 1000)
        )

    async def _hold(self, point: RecoveryPoint) -> None:
        pause = self._rules.holds.get(point, 0.0)
        if pause > 0:
            await asyncio.sleep(pause)

    def _busy(self) -> Conflict:
        # A short retry delay even when a dead holder's lock has long to run: the usual holder
        # is alive and done within milliseconds, and a stale lock is taken over on the retry.
        self.stats.busy += 1
        return Conflict(
            "this callback is being processed; retry later",
            self._rules.busy_retry_s,
            reason="CALLBACK_IN_FLIGHT",
            domain=DOMAIN,
        )


def _mismatch(callback: Callback) -> PreconditionFailed:
    return PreconditionFailed(
        "PAYLOAD_MISMATCH",
        DOMAIN,
        f"payment {callback.provider}/{callback.payment_id} was received with other content",
        {"provider": callback.provider, "payment_id": callback.payment_id},
    )
