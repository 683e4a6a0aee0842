"""The authoritative record of every callback in SQL (MariaDB/MySQL or SQLite), one row per
(provider, payment_id) under its primary key. Every write that changes who owns a row or what
it says is a compare-and-set on the owner, so a process that lost its lock changes nothing."""

from __future__ import annotations

import base64
import pathlib
from typing import Protocol

from servers.common import sql
from servers.payment.domain import Outcome, PaymentRecord, ProviderStatus, RecoveryPoint

MIGRATIONS = pathlib.Path(__file__).with_name("migrations")
_COLUMNS = (
    "provider, payment_id, record_id, order_id, amount_minor, currency, provider_status,"
    " payload_hash, recovery_point, outcome, outcome_reason, lock_owner, locked_ms, response,"
    " created_ms"
)
_KEY = "provider = %s AND payment_id = %s"


class PaymentRecords(Protocol):
    async def insert(self, record: PaymentRecord, now_ms: int) -> bool: ...
    async def get(self, key: tuple[str, str]) -> PaymentRecord | None: ...
    async def take_over(self, record: PaymentRecord, owner: str, now_ms: int) -> bool: ...
    async def save_decision(self, record: PaymentRecord, now_ms: int) -> bool: ...
    async def finish(self, record: PaymentRecord, response: bytes, now_ms: int) -> bool: ...
    async def unlock(self, record: PaymentRecord) -> None: ...
    async def purge(self, created_before_ms: int, limit: int) -> int: ...


class SqlPaymentRecords:
    def __init__(self, db: sql.Database) -> None:
        self._db = db

    async def migrate(self) -> None:
        await sql.migrate(self._db, MIGRATIONS)

    async def insert(self, record: PaymentRecord, now_ms: int) -> bool:
        """Insert a new processing row; False when the key exists already (nothing changed)."""
        columns = [c.strip() for c in _COLUMNS.split(",")] + ["state", "updated_ms"]
        values = [*_row(record), "processing", now_ms]
        if self._db.dialect == "mysql":
            # A duplicate key "updates" nothing and reports 0 affected rows.
            marks = ", ".join(["%s"] * len(columns))
            statement = (
                f"INSERT INTO payment_records ({', '.join(columns)}) VALUES ({marks})"
                " ON DUPLICATE KEY UPDATE provider = provider"
            )
        else:
            statement = sql.upsert_sql(
                "sqlite", "payment_records", columns, ["provider", "payment_id"], []
            )
        return await self._db.execute(statement, values) == 1

    async def get(self, key: tuple[str, str]) -> PaymentRecord | None:
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM payment_records WHERE {_KEY}", key)
        return _record(rows[0]) if rows else None

    async def take_over(self, record: PaymentRecord, owner: str, now_ms: int) -> bool:
        """Take a stale lock: succeeds only if the row is still as `record` saw it."""
        changed = await self._db.execute(
            "UPDATE payment_records SET lock_owner = %s, locked_ms = %s, updated_ms = %s"
            f" WHERE {_KEY} AND lock_owner = %s AND locked_ms = %s AND state = 'processing'",
            (owner, now_ms, now_ms, *record.key, record.lock_owner, record.locked_ms),
        )
        return changed == 1

    async def save_decision(self, record: PaymentRecord, now_ms: int) -> bool:
        """Recovery point ORDER_DONE: the order call's result, so a takeover need not repeat it."""
        changed = await self._db.execute(
            "UPDATE payment_records SET recovery_point = %s, outcome = %s, outcome_reason = %s,"
            f" updated_ms = %s WHERE {_KEY} AND lock_owner = %s AND state = 'processing'",
            (
                RecoveryPoint.ORDER_DONE.value,
                record.outcome.value if record.outcome else "",
                record.outcome_reason,
                now_ms,
                *record.key,
                record.lock_owner,
            ),
        )
        return changed == 1

    async def finish(self, record: PaymentRecord, response: bytes, now_ms: int) -> bool:
        changed = await self._db.execute(
            "UPDATE payment_records SET state = 'done', recovery_point = %s, outcome = %s,"
            " outcome_reason = %s, response = %s, updated_ms = %s"
            f" WHERE {_KEY} AND lock_owner = %s AND state = 'processing'",
            (
                RecoveryPoint.FINISHED.value,
                record.outcome.value if record.outcome else "",
                record.outcome_reason,
                _text(response),
                now_ms,
                *record.key,
                record.lock_owner,
            ),
        )
        return changed == 1

    async def unlock(self, record: PaymentRecord) -> None:
        """Let the next delivery take over at once (the work failed on a transient error)."""
        await self._db.execute(
            f"UPDATE payment_records SET locked_ms = 0 WHERE {_KEY} AND lock_owner = %s"
            " AND state = 'processing'",
            (*record.key, record.lock_owner),
        )

    async def purge(self, created_before_ms: int, limit: int) -> int:
        """Forget finished records older than the retention period, a bounded batch at a time."""
        rows = await self._db.fetch_all(
            "SELECT provider, payment_id FROM payment_records"
            " WHERE created_ms < %s AND state = 'done' ORDER BY created_ms LIMIT %s",
            (created_before_ms, limit),
        )
        if not rows:
            return 0
        async with self._db.transaction() as tx:
            await tx.executemany(f"DELETE FROM payment_records WHERE {_KEY}", rows)
        return len(rows)


def _row(record: PaymentRecord) -> list[object]:
    return [
        record.provider,
        record.payment_id,
        record.record_id,
        record.order_id,
        record.amount_minor,
        record.currency,
        record.status.value,
        record.payload_hash,
        record.recovery_point.value,
        record.outcome.value if record.outcome else "",
        record.outcome_reason,
        record.lock_owner,
        record.locked_ms,
        _text(record.response) if record.response else None,
        record.created_ms,
    ]


def _record(row: sql.Row) -> PaymentRecord:
    return PaymentRecord(
        provider=str(row[0]),
        payment_id=str(row[1]),
        record_id=int(row[2]),
        order_id=int(row[3]),
        amount_minor=int(row[4]),
        currency=str(row[5]),
        status=ProviderStatus(row[6]),
        payload_hash=str(row[7]),
        recovery_point=RecoveryPoint(row[8]),
        outcome=Outcome(row[9]) if row[9] else None,
        outcome_reason=str(row[10]),
        lock_owner=str(row[11]),
        locked_ms=int(row[12]),
        response=base64.b64decode(row[13]) if row[13] else b"",
        created_ms=int(row[14]),
    )


def _text(response: bytes) -> str:
    return base64.b64encode(response).decode()
