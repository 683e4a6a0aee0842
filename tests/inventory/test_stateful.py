"""A Hypothesis state machine drives reserve/release/commit/restock/set/expire against the real
Redis store and a model, and checks invariants 1 and 2 after every step."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from servers.common.errors import PreconditionFailed
from servers.common.soldout import SoldOutSnapshot
from servers.inventory.domain import Catalog, Product, ReservationLine, ReserveCommand, SaleConfig
from servers.inventory.keeper import KeeperRules, StockKeeper
from servers.inventory.store import RedisStockStore

SKU = "SKU-PROP"
LIMIT = 3
USERS = st.sampled_from(["ann", "bob", "cy"])


class InventoryMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(self.redis_url)
        self.now = 1_800_000_000.0
        catalog = Catalog([Product(SKU, "t", "d", 100, "EUR", "", initial_stock=5)])
        store = RedisStockStore(self.client, f"p{uuid.uuid4().hex[:10]}")
        rules = KeeperRules(default_ttl_s=60, sweep_batch=2)
        self.keeper = StockKeeper(catalog, store, SoldOutSnapshot(0), rules, clock=lambda: self.now)
        self.run(self.keeper.seed())
        self.run(self.keeper.configure_sale(SKU, SaleConfig(per_user_limit=LIMIT)))
        self.initial, self.available, self.reserved, self.sold = 5, 5, 0, 0
        self.held: dict[str, int] = {}
        self.live: dict[str, tuple[str, int, float]] = {}  # rid -> (user, qty, expires)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    @rule(target=reservations, user=USERS, quantity=st.integers(1, 3))
    def reserve(self, user: str, quantity: int) -> str:
        rid = uuid.uuid4().hex
        command = ReserveCommand(rid, user, (ReservationLine(SKU, quantity),), None)
        fits = quantity <= self.available and self.held.get(user, 0) + quantity <= LIMIT
        try:
            self.run(self.keeper.reserve(command))
        except PreconditionFailed as refused:
            assert not fits, f"refused although it fits: {refused.reason}"
            assert refused.reason in {"SOLD_OUT", "LIMIT_EXCEEDED"}
            return rid
        assert fits, "reserved although stock or limit forbade it"
        self.available -= quantity
        self.reserved += quantity
        self.held[user] = self.held.get(user, 0) + quantity
        self.live[rid] = (user, quantity, self.now + 60)
        return rid

    def _finish(self, rid: str, sold: bool) -> None:
        user, quantity, _ = self.live.pop(rid)
        self.reserved -= quantity
        if sold:
            self.sold += quantity
        else:
            self.available += quantity
            self.held[user] -= quantity

    @rule(rid=consumes(reservations))
    def release(self, rid: str) -> None:
        if rid not in self.live:
            return
        self.run(self.keeper.release(rid, [SKU]))
        self._finish(rid, sold=False)
        self.run(self.keeper.release(rid, [SKU]))  # a second release returns nothing more

    @rule(rid=consumes(reservations))
    def commit(self, rid: str) -> None:
        if rid not in self.live:
            return
        self.run(self.keeper.commit(rid, [SKU]))
        self._finish(rid, sold=True)

    @rule(quantity=st.integers(1, 4))
    def restock(self, quantity: int) -> None:
        self.run(self.keeper.restock(SKU, quantity))
        self.initial += quantity
        self.available += quantity

    @rule(available=st.integers(0, 6))
    def set_stock(self, available: int) -> None:
        self.run(self.keeper.set_stock(SKU, available))
        self.initial += available - self.available
        self.available = available

    @rule(seconds=st.sampled_from([10.0, 61.0]))
    def time_passes_and_sweeper_runs(self, seconds: float) -> None:
        self.now += seconds
        self.run(self.keeper.sweep_once())
        for rid in [r for r, (_, _, expires) in self.live.items() if expires <= self.now]:
            self._finish(rid, sold=False)

    @invariant()
    def books_balance(self) -> None:
        (level,) = self.run(self.keeper.stock([SKU]))
        assert level.available >= 0
        assert level.initial == level.available + level.reserved + level.sold
        assert (level.initial, level.available, level.reserved, level.sold) == (
            self.initial,
            self.available,
            self.reserved,
            self.sold,
        )
        assert all(held <= LIMIT for held in self.held.values())


def test_inventory_state_machine(redis_url: str) -> None:
    InventoryMachine.redis_url = redis_url
    machine = InventoryMachine.TestCase
    machine.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
