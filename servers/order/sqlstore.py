"""Orders in SQL (MariaDB/MySQL through aiomysql, SQLite through aiosqlite): the writer's upserts
and the reads behind the hot state.

Upserts are guarded by the order's version, so a redelivered old entry never rolls a newer
status back; lines and events are keyed so replaying them writes nothing new.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Protocol

from servers.common import sql
from servers.common.settings import EnvReader
from servers.common.sql import Database, Transaction
from servers.order.domain import Order, PricedLine, Status

MIGRATIONS = pathlib.Path(__file__).with_name("migrations")
_ORDER_COLUMNS = (
    "order_id",
    "request_id",
    "user_id",
    "status",
    "version",
    "currency",
    "total_minor",
    "payment_id",
    "cancel_reason",
    "created_ms",
    "updated_ms",
    "payment_deadline_ms",
    "discount_minor",
    "coupon_code",
)
_MUTABLE = ("status", "payment_id", "cancel_reason", "updated_ms")
_SELECT = f"SELECT {', '.join(_ORDER_COLUMNS)} FROM orders"


def database_dsn(env: EnvReader) -> str:
    """MYSQL_DSN when set, else the embedded SQLite file at ORDER_SQLITE_PATH."""
    dsn = env.text("MYSQL_DSN", "")
    return dsn or f"sqlite:///{env.text('ORDER_SQLITE_PATH', '.run/order.db')}"


class OrderRecords(Protocol):
    """What the service and the writer need from SQL."""

    async def write(self, tx: Transaction, entries: Sequence[tuple[str, Order]]) -> None: ...
    async def get(self, order_id: int) -> Order | None: ...
    async def count(self) -> int: ...


def _order_upsert(dialect: str) -> str:
    names = ", ".join(_ORDER_COLUMNS)
    marks = ", ".join(["%s"] * len(_ORDER_COLUMNS))
    head = f"INSERT INTO orders ({names}) VALUES ({marks})"
    if dialect == "mysql":
        # MariaDB applies assignments left to right: `version` goes last so the guards before
        # it still compare against the stored version.
        newer = "VALUES(version) > version"
        sets = [f"{c} = IF({newer}, VALUES({c}), {c})" for c in _MUTABLE]
        sets.append("version = GREATEST(version, VALUES(version))")
        return f"{head} ON DUPLICATE KEY UPDATE {', '.join(sets)}"
    sets = [f"{c} = excluded.{c}" for c in (*_MUTABLE, "version")]
    return (
        f"{head} ON CONFLICT (order_id) DO UPDATE SET {', '.join(sets)} "
        "WHERE excluded.version > orders.version"
    )


class SQLOrderRecords:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._orders = _order_upsert(db.dialect)
        self._lines = sql.upsert_sql(
            db.dialect,
            "order_lines",
            ["order_id", "line_no", "sku", "title", "quantity", "unit_minor", "discount_minor"],
            ["order_id", "line_no"],
            ["quantity"] if db.dialect == "mysql" else [],
        )
        self._events = sql.upsert_sql(
            db.dialect,
            "order_events",
            ["order_id", "version", "status", "event", "payment_id", "at_ms"],
            ["order_id", "version"],
            ["status"] if db.dialect == "mysql" else [],
        )

    async def migrate(self) -> list[str]:
        return await sql.migrate(self.db, MIGRATIONS)

    async def write(self, tx: Transaction, entries: Sequence[tuple[str, Order]]) -> None:
        """Upsert a batch of stream entries (kind, order after the event) in one transaction."""
        orders = [_order_row(order) for _kind, order in entries]
        lines = [
            (order.order_id, n, li.sku, li.title, li.quantity, li.unit_minor, li.discount_minor)
            for kind, order in entries
            if kind == "placed"
            for n, li in enumerate(order.lines)
        ]
        events = [
            (o.order_id, o.version, o.status.value, kind, o.payment_id, o.updated_ms)
            for kind, o in entries
        ]
        await tx.executemany(self._orders, orders)
        await tx.executemany(self._lines, lines)
        await tx.executemany(self._events, events)

    async def get(self, order_id: int) -> Order | None:
        rows = await self.db.fetch_all(f"{_SELECT} WHERE order_id = %s", (order_id,))
        if not rows:
            return None
        lines = await self.db.fetch_all(
            "SELECT sku, title, quantity, unit_minor, discount_minor FROM order_lines "
            "WHERE order_id = %s "
            "ORDER BY line_no",
            (order_id,),
        )
        return _order(rows[0], lines)

    async def count(self) -> int:
        rows = await self.db.fetch_all("SELECT COUNT(*) FROM orders")
        return int(rows[0][0])

    async def statuses(self) -> dict[int, tuple[str, int]]:
        """Every order's (status, version), for reconciliation."""
        rows = await self.db.fetch_all("SELECT order_id, status, version FROM orders")
        return {int(r[0]): (str(r[1]), int(r[2])) for r in rows}

    async def paid_events(self) -> dict[int, int]:
        """How many PAID events each order has (exactly-once payment means at most one)."""
        rows = await self.db.fetch_all(
            "SELECT order_id, COUNT(*) FROM order_events WHERE status = %s GROUP BY order_id",
            (Status.PAID.value,),
        )
        return {int(r[0]): int(r[1]) for r in rows}


def _order_row(order: Order) -> tuple[object, ...]:
    return (
        order.order_id,
        order.request_id,
        order.user_id,
        order.status.value,
        order.version,
        order.currency,
        order.total_minor,
        order.payment_id,
        order.cancel_reason,
        order.created_ms,
        order.updated_ms,
        order.payment_deadline_ms,
        order.discount_minor,
        order.coupon_code,
    )


def _order(row: sql.Row, lines: Sequence[sql.Row]) -> Order:
    return Order(
        order_id=int(row[0]),
        request_id=str(row[1]),
        user_id=str(row[2]),
        status=Status(row[3]),
        version=int(row[4]),
        currency=str(row[5]),
        lines=tuple(PricedLine(str(s), str(t), int(q), int(p), int(d)) for s, t, q, p, d in lines),
        payment_id=str(row[7]),
        cancel_reason=str(row[8]),
        created_ms=int(row[9]),
        updated_ms=int(row[10]),
        payment_deadline_ms=int(row[11]),
        coupon_code=str(row[13]),
    )
