"""The authoritative SQL record on real SQLite and MariaDB: unique key, compare-and-set on the
owner, recovery points, stored bytes, retention purge."""

from __future__ import annotations

from dataclasses import replace

import pytest

from servers.common import sql
from servers.payment.domain import Outcome, PaymentRecord, ProviderStatus, RecoveryPoint
from servers.payment.records import SqlPaymentRecords

pytestmark = pytest.mark.asyncio


def _record(payment_id: str = "pay-1", owner: str = "a", created_ms: int = 1_000) -> PaymentRecord:
    return PaymentRecord(
        provider="acme",
        payment_id=payment_id,
        record_id=hash(payment_id) & 0x7FFF_FFFF,
        order_id=42,
        amount_minor=1234,
        currency="EUR",
        status=ProviderStatus.SUCCEEDED,
        payload_hash="h" * 64,
        created_ms=created_ms,
        lock_owner=owner,
        locked_ms=created_ms,
    )


async def _records(database: sql.Database) -> SqlPaymentRecords:
    records = SqlPaymentRecords(database)
    await records.migrate()
    await records.migrate()  # idempotent
    return records


async def test_the_key_is_unique_and_the_first_insert_wins(database: sql.Database) -> None:
    records = await _records(database)
    assert await records.insert(_record(owner="a"), 1_000)
    assert not await records.insert(replace(_record(owner="b"), record_id=7), 1_001)
    stored = await records.get(("acme", "pay-1"))
    assert stored == _record(owner="a")
    assert await records.get(("acme", "nope")) is None


async def test_recovery_points_and_outcome_bytes_are_guarded_by_the_owner(
    database: sql.Database,
) -> None:
    records = await _records(database)
    mine = _record(owner="a")
    await records.insert(mine, 1_000)
    decided = mine.decided(Outcome.REJECTED, "AMOUNT_MISMATCH")
    assert not await records.save_decision(replace(decided, lock_owner="intruder"), 1_100)
    assert await records.save_decision(decided, 1_100)
    halfway = await records.get(mine.key)
    assert halfway is not None
    assert (halfway.recovery_point, halfway.outcome, halfway.outcome_reason, halfway.done) == (
        RecoveryPoint.ORDER_DONE,
        Outcome.REJECTED,
        "AMOUNT_MISMATCH",
        False,
    )
    assert not await records.finish(replace(decided, lock_owner="intruder"), b"x", 1_200)
    assert await records.finish(decided, b"\x00\x01bytes\xff", 1_200)
    assert not await records.finish(decided, b"second", 1_300)  # done rows never change
    final = await records.get(mine.key)
    assert final is not None and final.done and final.response == b"\x00\x01bytes\xff"


async def test_a_stale_lock_is_taken_over_once(database: sql.Database) -> None:
    records = await _records(database)
    dead = _record(owner="dead")
    await records.insert(dead, 1_000)
    seen = await records.get(dead.key)
    assert seen is not None
    assert await records.take_over(seen, "b", 50_000)
    assert not await records.take_over(seen, "c", 50_001)  # b changed the row: c's CAS fails
    now = await records.get(dead.key)
    assert now is not None and (now.lock_owner, now.locked_ms) == ("b", 50_000)
    await records.unlock(replace(now, lock_owner="c"))
    assert (await records.get(dead.key)) == now  # only the owner unlocks
    await records.unlock(now)
    unlocked = await records.get(dead.key)
    assert unlocked is not None and unlocked.locked_ms == 0


async def test_purge_forgets_only_finished_records_past_retention(database: sql.Database) -> None:
    records = await _records(database)
    for name, created in (("old-done", 1_000), ("old-open", 1_000), ("new-done", 9_000)):
        record = _record(name, created_ms=created)
        await records.insert(record, created)
        if name.endswith("done"):
            await records.finish(record.decided(Outcome.APPLIED), b"r", created)
    assert await records.purge(5_000, 100) == 1
    assert await records.purge(5_000, 100) == 0
    assert await records.get(("acme", "old-done")) is None
    assert await records.get(("acme", "old-open")) is not None
    assert await records.get(("acme", "new-done")) is not None
