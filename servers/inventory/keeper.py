"""The inventory use cases: reserve, release, commit, stock changes and the expiry sweeper.

Plain Python over a StockStore; the servicer only decodes requests and encodes answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from servers.common.errors import NotFound, PreconditionFailed
from servers.common.soldout import SoldOutSnapshot
from servers.common.validation import Violations
from servers.inventory.domain import (
    DOMAIN,
    MAX_BATCH,
    MAX_STOCK,
    Catalog,
    LineRecord,
    Product,
    Reservation,
    ReservationLine,
    ReservationState,
    ReserveCommand,
    SaleConfig,
    StockLevel,
    check_reference,
    check_sku,
    check_skus,
    refusal,
    sold_out,
)
from servers.inventory.store import LineOutcome, StockStore

_log = logging.getLogger("shopmesh.inventory")


@dataclass(frozen=True, slots=True)
class KeeperRules:
    default_ttl_s: float = 1_200.0
    max_ttl_s: float = 86_400.0
    keep_finished_s: float = 7 * 86_400.0
    sweep_interval_s: float = 1.0
    sweep_batch: int = 500


class StockKeeper:
    def __init__(
        self,
        catalog: Catalog,
        store: StockStore,
        snapshot: SoldOutSnapshot,
        rules: KeeperRules,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self._store = store
        self.snapshot = snapshot
        self._rules = rules
        self._clock = clock
        self._background: set[asyncio.Future[None]] = set()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def seed(self) -> None:
        """Create the stock of every catalog SKU that Redis does not know yet."""
        for sku in self.catalog.skus:
            await self._store.seed(self.catalog.get(sku))

    async def reserve(self, command: ReserveCommand) -> tuple[Reservation, bool]:
        """Hold every line or none; returns the reservation and whether it was a replay."""
        command.validate(self._rules.max_ttl_s)
        for line in command.lines:
            self.catalog.get(line.sku)
            if self.snapshot.is_sold_out(line.sku):
                raise sold_out(line.sku, self.snapshot.generation(line.sku))
        now_ms = self._now_ms()
        expire_ms = now_ms + int((command.ttl_s or self._rules.default_ttl_s) * 1000)
        held: list[str] = []
        records: list[LineRecord] = []
        replayed = True
        try:
            for line in command.lines:
                outcome = await self._store.reserve_line(
                    command.reservation_id,
                    command.user_id,
                    line.sku,
                    line.quantity,
                    now_ms,
                    expire_ms,
                )
                record = self._accept(command, line, outcome)
                if record.state is ReservationState.RESERVED:
                    held.append(line.sku)
                replayed = replayed and outcome.status == "REPLAY"
                records.append(record)
        except BaseException:
            await self._compensate(command.reservation_id, held)
            raise
        return _reservation(
            command.reservation_id, command.user_id, command.lines, records
        ), replayed

    def _accept(
        self, command: ReserveCommand, line: ReservationLine, outcome: LineOutcome
    ) -> LineRecord:
        """Check one line's outcome; raises the refusal, returns the line's record."""
        if outcome.status == "OK" and outcome.record is not None:
            if outcome.available == 0:
                self.snapshot.mark_sold_out(line.sku, outcome.generation)
            return outcome.record
        if outcome.status == "REPLAY" and outcome.record is not None:
            record = outcome.record
            if record.user_id != command.user_id or record.quantity != line.quantity:
                raise refusal("RESERVATION_MISMATCH", line.sku)
            if record.state is ReservationState.RELEASED:
                raise refusal("RESERVATION_RELEASED", line.sku)
            return record
        if outcome.status == "SOLD_OUT":
            self.snapshot.mark_sold_out(line.sku, outcome.generation)
            raise sold_out(line.sku, outcome.generation)
        if outcome.status == "UNKNOWN":  # in the catalog but never seeded: treat as missing
            raise NotFound("stock", line.sku)
        raise refusal(outcome.status, line.sku, outcome.detail)

    async def _compensate(self, reservation_id: str, skus: Sequence[str]) -> None:
        """Release lines already held; shielded, so a cancelled caller still leaves no hold."""
        if not skus:
            return
        task = asyncio.ensure_future(self._release_all(reservation_id, list(skus)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        with contextlib.suppress(Exception):
            await asyncio.shield(task)

    async def _release_all(self, reservation_id: str, skus: list[str]) -> None:
        keep = self._now_ms() + int(self._rules.keep_finished_s * 1000)
        for sku in skus:
            try:
                await self._store.release_line(reservation_id, sku, keep)
            except Exception:  # the sweeper releases it at expiry
                _log.warning(
                    "compensating release failed", extra={"sku": sku, "rid": reservation_id}
                )

    async def _finish(self, reservation_id: str, skus: Sequence[str], action: str) -> Reservation:
        check_reference(reservation_id, skus)
        for sku in skus:
            self.catalog.get(sku)
        records = await self._store.lookup(reservation_id, skus)
        if any(r is None for r in records):
            raise NotFound("reservation", reservation_id)
        found = [r for r in records if r is not None]
        blocked = ReservationState.COMMITTED if action == "release" else ReservationState.RELEASED
        for sku, record in zip(skus, found, strict=True):
            if record.state is blocked:
                raise refusal(f"RESERVATION_{blocked.name}", sku)
        keep = self._now_ms() + int(self._rules.keep_finished_s * 1000)
        change = self._store.release_line if action == "release" else self._store.commit_line
        for sku in skus:
            status = await change(reservation_id, sku, keep)
            if status not in {"OK", "ALREADY"}:  # changed under us between lookup and script
                raise refusal(f"RESERVATION_{blocked.name}", sku)
        state = ReservationState.RELEASED if action == "release" else ReservationState.COMMITTED
        lines = tuple(ReservationLine(s, r.quantity) for s, r in zip(skus, found, strict=True))
        return Reservation(reservation_id, found[0].user_id, lines, state, found[0].expire_ms)

    async def release(self, reservation_id: str, skus: Sequence[str]) -> Reservation:
        return await self._finish(reservation_id, skus, "release")

    async def commit(self, reservation_id: str, skus: Sequence[str]) -> Reservation:
        return await self._finish(reservation_id, skus, "commit")

    async def stock(self, skus: Sequence[str]) -> list[StockLevel]:
        check_skus("skus", skus, maximum=MAX_BATCH)
        for sku in skus:
            self.catalog.get(sku)
        levels = await self._store.stock(skus)
        missing = [sku for sku, level in zip(skus, levels, strict=True) if level is None]
        if missing:
            raise NotFound("stock", missing[0])
        return [level for level in levels if level is not None]

    async def _adjust(self, sku: str, mode: str, *values: int) -> StockLevel:
        level = await self._store.adjust(sku, mode, *values)
        if level is None:
            raise NotFound("stock", sku)
        return level

    async def set_stock(self, sku: str, available: int) -> StockLevel:
        self.catalog.get(check_sku(sku))
        violations = Violations()
        violations.in_range("available", available, 0, MAX_STOCK)
        violations.raise_if_any()
        return await self._adjust(sku, "set", available)

    async def restock(self, sku: str, quantity: int) -> StockLevel:
        self.catalog.get(check_sku(sku))
        violations = Violations()
        violations.in_range("quantity", quantity, 1, MAX_STOCK)
        violations.raise_if_any()
        level = await self._adjust(sku, "restock", quantity)
        if level.initial > MAX_STOCK * 2:
            raise PreconditionFailed("STOCK_TOO_LARGE", DOMAIN, f"{sku} holds too many units")
        return level

    async def configure_sale(self, sku: str, sale: SaleConfig) -> StockLevel:
        self.catalog.get(check_sku(sku))
        sale.validate()
        return await self._adjust(sku, "sale", sale.per_user_limit, sale.start_ms, sale.end_ms)

    def product(self, sku: str) -> Product:
        return self.catalog.get(check_sku(sku))

    async def sweep_once(self) -> int:
        """Release every reservation past its expiry and forget old finished ones."""
        now_ms = self._now_ms()
        keep = now_ms + int(self._rules.keep_finished_s * 1000)
        released = 0
        for sku in self.catalog.skus:
            while True:
                count = await self._store.expire(sku, now_ms, self._rules.sweep_batch, keep)
                released += count
                if count < self._rules.sweep_batch:
                    break
            await self._store.purge(sku, now_ms, self._rules.sweep_batch)
        if released:
            _log.info("released expired reservations", extra={"count": released})
        return released


def _reservation(
    reservation_id: str,
    user_id: str,
    lines: Sequence[ReservationLine],
    records: Sequence[LineRecord],
) -> Reservation:
    return Reservation(
        reservation_id, user_id, tuple(lines), records[0].state, records[0].expire_ms
    )
