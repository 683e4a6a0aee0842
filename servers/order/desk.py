"""The order use cases: place, read, and move orders through the transition table.

Plain Python over the hot store, the SQL records and the inventory client; the servicer only
decodes requests and encodes answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from servers.common.coupons import Coupon, CouponBook
from servers.common.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    Overloaded,
    PreconditionFailed,
)
from servers.common.snowflake import Snowflake
from servers.common.soldout import SoldOutSnapshot
from servers.order.domain import (
    DOMAIN,
    Event,
    Order,
    PlaceCommand,
    Status,
    already_paid,
    amount_mismatch,
    apply_coupon,
    check_order_id,
    check_page,
    next_status,
    request_reused,
    sold_out,
)
from servers.order.inventory import InventoryClient
from servers.order.sqlstore import OrderRecords
from servers.order.store import Claim, RedisOrderStore

_log = logging.getLogger("shopmesh.order")
# Inventory refuses a malformed request or an unknown SKU before it can hold anything. Any other
# failure of Reserve may follow a hold: a mesh retry of a Reserve whose reply was lost is answered
# by the retry (SOLD_OUT from the snapshot the first attempt filled, LIMIT_EXCEEDED by its own
# count), so the compensating Release runs for those too; it is idempotent and cheap.
_NOTHING_HELD = (NotFound, InvalidArgument)


@dataclass(frozen=True, slots=True)
class DeskRules:
    payment_timeout_s: float = 900.0
    # Inventory holds the stock this much longer than the payment timeout: its sweeper is the
    # backstop that frees an orphaned hold if every compensating call of ours failed.
    reservation_margin_s: float = 300.0
    backlog_cap: int = 10_000
    claim_ttl_s: int = 3 * 86_400
    pending_claim_ttl_s: int = 60
    keep_terminal_s: int = 7 * 86_400
    timeout_scan_s: float = 1.0
    timeout_batch: int = 200
    compensate_timeout_s: float = 2.0
    # New orders being reserved and recorded at once, per process: past it a buyer gets a fast
    # RESOURCE_EXHAUSTED + RetryInfo instead of a place in a queue that only grows (a sale's
    # first seconds offer more winners than the stock path can take).
    max_placing: int = 8


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        _log.warning("background order work failed", exc_info=error)


class OrderDesk:
    def __init__(
        self,
        store: RedisOrderStore,
        records: OrderRecords,
        inventory: InventoryClient,
        snapshot: SoldOutSnapshot,
        ids: Snowflake,
        rules: DeskRules,
        coupons: CouponBook,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.records = records
        self.inventory = inventory
        self.snapshot = snapshot
        self.coupons = coupons
        self._ids = ids
        self.rules = rules
        self._clock = clock
        self._background: set[asyncio.Task[None]] = set()
        self._placing = 0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def place(self, command: PlaceCommand) -> tuple[Order, bool]:
        """Accept an order (stock reserved, hot state + stream entry written) or refuse it whole."""
        command.validate()
        fingerprint = command.fingerprint()
        coupon, refusal = self._refusal_or_coupon(command)
        if refusal is not None:  # answered here, before any hop or hold, unless it is a replay
            claim = await self.store.claim_of(command.request_id)
            if claim is None:
                raise refusal
            return await self._replay(command, claim, fingerprint), True
        if self._placing >= self.rules.max_placing:
            raise Overloaded(
                "too many orders are being placed right now", 0.2, "PLACING_BUSY", DOMAIN
            )
        self._placing += 1
        try:
            return await self._place_new(command, fingerprint, coupon)
        finally:
            self._placing -= 1

    async def _place_new(
        self, command: PlaceCommand, fingerprint: str, coupon: Coupon | None
    ) -> tuple[Order, bool]:
        priced, currency = await self.inventory.price(command.lines)
        if await self.store.backlog() >= self.rules.backlog_cap:
            raise Overloaded("the order backlog is full", 0.5, "BACKLOG_FULL", DOMAIN)
        now_ms = self._now_ms()
        order = Order(
            order_id=self._ids.next_id(),
            request_id=command.request_id,
            user_id=command.user_id,
            lines=tuple(priced) if coupon is None else apply_coupon(priced, coupon),
            currency=currency,
            status=Status.PENDING_PAYMENT,
            version=1,
            created_ms=now_ms,
            updated_ms=now_ms,
            payment_deadline_ms=now_ms + int(self.rules.payment_timeout_s * 1000),
            fingerprint=fingerprint,
            coupon_code="" if coupon is None else coupon.code,
        )
        claim = Claim(order.order_id, fingerprint)
        held = await self.store.claim(command.request_id, claim, self.rules.pending_claim_ttl_s)
        if held is not None:
            return await self._replay(command, held, fingerprint), True
        await self._reserve_and_record(order)
        return order, False

    def _refusal_or_coupon(
        self, command: PlaceCommand
    ) -> tuple[Coupon | None, PreconditionFailed | None]:
        """The usable coupon of `command` (None for none), or why a new order would be refused
        before reserving anything: a SKU in the sold-out snapshot, an unknown or expired coupon.
        A replay is answered all the same, so a retry outlives its coupon's expiry."""
        hopeless = next((li.sku for li in command.lines if self.snapshot.is_sold_out(li.sku)), None)
        if hopeless is not None:
            return None, sold_out(hopeless, self.snapshot.generation(hopeless))
        if not command.coupon_code:
            return None, None
        try:
            return self.coupons.usable(command.coupon_code, self._clock()), None
        except PreconditionFailed as refusal:
            return None, refusal

    async def _reserve_and_record(self, order: Order) -> None:
        try:
            ttl = self.rules.payment_timeout_s + self.rules.reservation_margin_s
            await self.inventory.reserve(str(order.order_id), order.user_id, order.lines, ttl)
        except BaseException as exc:
            # The request id is freed, and anything this order id may hold is released, in
            # background work that outlives a departed caller.
            self._spawn(self._undo(order, release=not isinstance(exc, _NOTHING_HELD)))
            raise
        # From here the order may be on record: a caller that leaves (deadline, cancel) must
        # not interrupt recording, or the undo would free a request id and stock that an
        # accepted order holds (and a retry would place a second order).
        recording = self._spawn(self._record(order))
        await asyncio.shield(recording)

    async def _record(self, order: Order) -> None:
        try:
            await self.store.place(order)
        except Exception:
            recorded = await self._recorded(order.order_id)
            if recorded is None:  # unknown: the short claim lapses, the sweeper returns stock
                raise
            if not recorded:
                await self._undo(order, release=True)
                raise
            _log.info("order recorded despite an error reply", extra={"order_id": order.order_id})
        await self.store.keep_claim(order.request_id, self.rules.claim_ttl_s)

    async def _recorded(self, order_id: int) -> bool | None:
        """Whether the hot state holds `order_id`; None when Redis cannot say."""
        try:
            return await self.store.get(order_id) is not None
        except Exception:
            return None

    async def _undo(self, order: Order, *, release: bool) -> None:
        with contextlib.suppress(Exception):
            await self.store.drop_claim(order.request_id, order.order_id)
        if release:
            await self._release(order.order_id, order.skus)

    async def _release(self, order_id: int, skus: Sequence[str]) -> None:
        """Return a reservation's stock; NOT_FOUND (nothing held) is fine, failures are retried
        a few times and then left to inventory's expiry sweeper."""
        for attempt in range(3):
            try:
                await self.inventory.release(str(order_id), skus, self.rules.compensate_timeout_s)
                return
            except NotFound:
                if len(skus) > 1:  # a partial hold: release what exists, line by line
                    for sku in skus:
                        with contextlib.suppress(NotFound):
                            await self.inventory.release(
                                str(order_id), [sku], self.rules.compensate_timeout_s
                            )
                return
            except PreconditionFailed:
                return  # committed or released already: nothing to return
            except Exception:
                _log.warning("release failed", extra={"order_id": order_id, "attempt": attempt})
                await asyncio.sleep(0.1 * (attempt + 1))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)  # a caller that left never sees its outcome
        return task

    async def drain(self) -> None:
        """Wait for compensations still running (at shutdown and in tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def _replay(self, command: PlaceCommand, claim: Claim, fingerprint: str) -> Order:
        if claim.fingerprint != fingerprint:
            raise request_reused(command.request_id)
        order = await self.get(claim.order_id, missing_ok=True)
        if order is None:
            raise Conflict("this request_id is being placed right now", 0.05, "IN_FLIGHT", DOMAIN)
        return order

    async def get(self, order_id: int, *, missing_ok: bool = False) -> Order | None:
        """Hot state first (an order is readable the moment it was accepted), then SQL."""
        check_order_id(order_id)
        order = await self.store.get(order_id) or await self.records.get(order_id)
        if order is None and not missing_ok:
            raise NotFound("order", str(order_id))
        return order

    async def require(self, order_id: int) -> Order:
        order = await self.get(order_id)
        assert order is not None
        return order

    async def list(self, user_id: str, page_size: int, page_token: str) -> tuple[list[Order], str]:
        size, before = check_page(user_id, page_size, page_token)
        ids = await self.store.user_orders(user_id, before, size + 1)
        page, more = ids[:size], len(ids) > size
        hot = await self.store.get_many(page)
        orders = [o or await self.records.get(i) for i, o in zip(page, hot, strict=True)]
        found = [o for o in orders if o is not None]
        return found, (str(page[-1]) if more and page else "")

    async def _move(
        self, order_id: int, event: Event, *, payment_id: str | None = None, reason: str = ""
    ) -> Order:
        """One compare-and-set transition, re-read and re-checked if the order moved under us."""
        order = await self.require(order_id)
        for _ in range(8):
            after = order.moved(
                next_status(order.status, event, order_id),
                self._now_ms(),
                payment_id=payment_id,
                cancel_reason=reason,
            )
            outcome, current = await self.store.transition(
                order, after, event.value, self.rules.keep_terminal_s
            )
            if outcome == "OK":
                return after
            if outcome == "NOT_FOUND" or current is None:  # only in SQL: terminal and cooled
                next_status(Status.CANCELLED, event, order_id)
                raise NotFound("order", str(order_id))
            order = current
        raise Conflict("the order is changing concurrently", 0.05, "CONTENDED", DOMAIN)

    async def cancel(self, order_id: int, reason: str, event: Event = Event.CANCEL) -> Order:
        order = await self._move(order_id, event, reason=reason)
        # The CAS above succeeds once per order, and inventory returns units once per hold.
        self._spawn(self._release(order_id, order.skus))
        return order

    async def confirm(
        self, order_id: int, payment_id: str, paid_minor: int, currency: str
    ) -> tuple[Order, bool]:
        order = await self.require(order_id)
        if order.payment_id:
            if order.payment_id == payment_id:
                return order, True
            raise already_paid(order)
        if order.status is Status.PENDING_PAYMENT and (
            currency != order.currency or paid_minor != order.total_minor
        ):
            raise amount_mismatch(order, paid_minor, currency)
        try:
            paid = await self._move(order_id, Event.PAY, payment_id=payment_id)
        except PreconditionFailed:
            current = await self.require(order_id)
            if current.payment_id == payment_id:  # a concurrent replay won the race
                return current, True
            if current.payment_id:
                raise already_paid(current) from None
            raise
        self._spawn(self._commit(order_id, paid.skus))
        return paid, False

    async def _commit(self, order_id: int, skus: Sequence[str]) -> None:
        """Sell a paid order's stock. Until this succeeds the order stays in the commit outbox
        and the sweeper retries it, so inventory's expiry never frees stock that was paid for."""
        for attempt in range(3):
            try:
                await self.inventory.commit(str(order_id), skus, self.rules.compensate_timeout_s)
            except PreconditionFailed:
                _log.error("paid order's stock was released", extra={"order_id": order_id})
            except Exception:
                _log.warning("commit failed", extra={"order_id": order_id, "attempt": attempt})
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            await self.store.committed(order_id)
            return

    async def _recommit(self) -> None:
        settled = self._now_ms() - 5_000
        for partition in range(self.store.keys.partitions):
            for order_id in await self.store.uncommitted(partition, settled, 100):
                order = await self.get(order_id, missing_ok=True)
                if order is None:
                    await self.store.committed(order_id)
                else:
                    await self._commit(order_id, order.skus)

    async def ship(self, order_id: int) -> Order:
        return await self._move(order_id, Event.SHIP)

    async def complete(self, order_id: int) -> Order:
        return await self._move(order_id, Event.COMPLETE)

    async def expire_due(self) -> int:
        """Cancel every order whose payment deadline passed; returns how many were cancelled."""
        cancelled = 0
        for partition in range(self.store.keys.partitions):
            for order_id in await self.store.due(
                partition, self._now_ms(), self.rules.timeout_batch
            ):
                try:
                    await self.cancel(order_id, "payment timeout", Event.EXPIRE)
                    cancelled += 1
                except (PreconditionFailed, NotFound):
                    await self.store.forget_due(order_id)  # paid or gone meanwhile
        return cancelled

    async def sweep_once(self) -> None:
        """One round of the payment-timeout canceller, which also retries stock commits left
        behind (the runtime repeats it every `timeout_scan_s`)."""
        await self.expire_due()
        await self._recommit()

    async def watch(self, order_id: int, interval_s: float = 0.1) -> AsyncIterator[Order]:
        """Yield the order now and after each change, until it is terminal."""
        order = await self.require(order_id)
        yield order
        while order.status not in {Status.COMPLETED, Status.CANCELLED}:
            await asyncio.sleep(interval_s)
            latest = await self.get(order_id, missing_ok=True)
            if latest is not None and latest.version != order.version:
                order = latest
                yield order
