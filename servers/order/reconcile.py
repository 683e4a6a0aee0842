"""`shopmesh reconcile`: check invariants 1-5 across inventory's Redis, the order hot state and SQL.

1 no oversell: per SKU initial = available + reserved + sold, available >= 0, and the held /
  sold counters equal the reservation records behind them;
2 limits: no user holds more than the SKU's per-user limit;
3 no lost, no duplicate order: every hot order is in SQL at its version once the backlog is
  empty (while it is not, the gap is reported as lag), one order per request id;
4 exactly-once payment: at most one PAID event per order, and a paid order's stock is sold;
5 legal transitions: a cancelled order holds no stock, a pending one holds all of it.

Stock-side effects of a transition (commit, release) run just after it, so orders changed in
the last `settle_s` seconds are not judged on 4/5. Exit code 1 when anything is violated.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from servers.common import sql
from servers.common.settings import EnvReader
from servers.order.domain import Order, Status
from servers.order.sqlstore import SQLOrderRecords, database_dsn
from servers.order.store import OrderKeys, RedisOrderStore

_EXPECTED_RECORD = {
    Status.PENDING_PAYMENT: "R",
    Status.PAID: "C",
    Status.SHIPPED: "C",
    Status.COMPLETED: "C",
    Status.CANCELLED: "X",
}


@dataclass
class Report:
    checked: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.violations

    def render(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.checked.items()))
        lines = [f"reconcile: checked {counts}"]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  VIOLATION: {v}" for v in self.violations]
        lines.append(
            "reconcile: CLEAN" if self.clean else f"reconcile: {len(self.violations)} violation(s)"
        )
        return "\n".join(lines)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _records_of(client: aioredis.Redis, key: str) -> dict[str, tuple[str, int, str]]:
    """Reservation records of one SKU: id -> (state, quantity, user)."""
    raw = await client.hgetall(key)
    out = {}
    for rid, record in raw.items():
        state, quantity, _expires, user = _text(record).split("|", 3)
        out[_text(rid)] = (state, int(quantity), user)
    return out


async def check_stock(
    client: aioredis.Redis, inventory_prefix: str, report: Report
) -> dict[str, dict[str, tuple[str, int, str]]]:
    """Invariants 1 and 2; returns every SKU's reservation records for the order checks."""
    records: dict[str, dict[str, tuple[str, int, str]]] = {}
    async for key in client.scan_iter(match=f"{inventory_prefix}:{{*}}:stock", count=1000):
        name = _text(key)
        sku = name[name.index("{") + 1 : name.index("}")]
        base = name.removesuffix(":stock")
        fields = await client.hmget(key, ["initial", "available", "reserved", "sold", "limit"])
        initial, available, reserved, sold, limit = (int(v or 0) for v in fields)
        report.checked["skus"] += 1
        if initial != available + reserved + sold or available < 0:
            report.violations.append(
                f"stock {sku}: initial {initial} != available {available} + reserved {reserved}"
                f" + sold {sold} (or available < 0)"
            )
        held = records[sku] = await _records_of(client, f"{base}:res")
        by_state = Counter[str]()
        for state, quantity, _user in held.values():
            by_state[state] += quantity
        if by_state["R"] != reserved or by_state["C"] != sold:
            report.violations.append(
                f"stock {sku}: counters reserved={reserved} sold={sold} but records hold"
                f" {by_state['R']} reserved, {by_state['C']} sold"
            )
        if limit > 0:
            for user, units in (await client.hgetall(f"{base}:users")).items():
                if int(units) > limit:
                    report.violations.append(
                        f"limit {sku}: user {_text(user)} holds {int(units)} > {limit}"
                    )
    return records


async def hot_orders(client: aioredis.Redis, keys: OrderKeys) -> list[Order]:
    found = []
    async for key in client.scan_iter(match=f"{keys.prefix}:{{*}}:o:*", count=1000):
        raw = await client.hget(key, "doc")
        if raw is not None:
            found.append(Order.from_json(raw))
    return found


async def check_orders(
    store: RedisOrderStore,
    records: SQLOrderRecords,
    client: aioredis.Redis,
    stock_records: dict[str, dict[str, tuple[str, int, str]]],
    report: Report,
    settle_s: float,
) -> None:
    """Invariants 3, 4 and 5."""
    orders = await hot_orders(client, store.keys)
    backlog = await store.backlog()
    in_sql = await records.statuses()
    report.checked["hot_orders"] = len(orders)
    report.checked["sql_orders"] = len(in_sql)
    report.checked["backlog"] = backlog
    duplicates = [rid for rid, n in Counter(o.request_id for o in orders).items() if n > 1]
    report.violations += [f"request {rid}: more than one order" for rid in duplicates]
    lagging = 0
    settled_before = int((time.time() - settle_s) * 1000)
    for order in orders:
        stored = in_sql.get(order.order_id)
        if stored is None or stored[1] < order.version:
            lagging += 1
        elif stored != (order.status.value, order.version):
            report.violations.append(
                f"order {order.order_id}: SQL has {stored},"
                f" Redis {order.status.value} v{order.version}"
            )
        if order.updated_ms <= settled_before:
            _check_stock_of(order, stock_records, report)
    if lagging and backlog == 0:
        report.violations.append(
            f"{lagging} accepted order(s) missing from SQL with an empty backlog"
        )
    elif lagging:
        report.notes.append(f"{lagging} order(s) not in SQL yet; backlog {backlog}")
    for order_id, paid in (await records.paid_events()).items():
        if paid > 1:
            report.violations.append(f"order {order_id}: paid {paid} times")


def _check_stock_of(
    order: Order, stock_records: dict[str, dict[str, tuple[str, int, str]]], report: Report
) -> None:
    want = _EXPECTED_RECORD[order.status]
    for line in order.lines:
        record = stock_records.get(line.sku, {}).get(str(order.order_id))
        state = record[0] if record else "-"
        if state != want and not (want == "X" and state == "-"):
            report.violations.append(
                f"order {order.order_id} ({order.status.value}): {line.sku} reservation is"
                f" {state!r}, expected {want!r}"
            )


async def reconcile(
    client: aioredis.Redis,
    db: sql.Database,
    inventory_prefix: str,
    order_keys: OrderKeys,
    settle_s: float = 5.0,
) -> Report:
    report = Report()
    stock_records = await check_stock(client, inventory_prefix, report)
    store = RedisOrderStore(client, order_keys)
    await check_orders(store, SQLOrderRecords(db), client, stock_records, report, settle_s)
    return report


def cli_main(argv: list[str]) -> int:
    """`shopmesh reconcile [--settle-s N]`; Redis/SQL/prefixes come from the environment."""
    parser = argparse.ArgumentParser(prog="shopmesh reconcile", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--settle-s", type=float, default=5.0, help="skip orders changed this recently"
    )
    args = parser.parse_args(argv)
    env = EnvReader()
    keys = OrderKeys(
        env.text("ORDER_KEY_PREFIX", "ord"), env.integer("ORDER_PARTITIONS", 4, minimum=1)
    )

    async def main() -> int:
        client = aioredis.Redis.from_url(env.text("REDIS_URL", "redis://127.0.0.1:6379/0"))
        db = await sql.connect(database_dsn(env))
        try:
            await SQLOrderRecords(db).migrate()
            report = await reconcile(
                client, db, env.text("INVENTORY_KEY_PREFIX", "inv"), keys, args.settle_s
            )
        finally:
            await db.close()
            await client.aclose()
        print(report.render())
        return 0 if report.clean else 1

    return asyncio.run(main())
