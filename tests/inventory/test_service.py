"""Inventory RPCs on a real server against real Redis: answers, statuses and details."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2

from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2 as pb
from tests.helpers import error_reason, status_details, violated_fields
from tests.inventory.conftest import InventoryUnderTest

pytestmark = pytest.mark.asyncio


def reserve_request(rid: str, user: str, sku: str, quantity: int = 1) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        reservation_id=rid, user_id=user, lines=[pb.ReservationLine(sku=sku, quantity=quantity)]
    )


async def stock_of(inventory: InventoryUnderTest, sku: str) -> pb.Stock:
    return (await inventory.stub.GetStock(pb.GetStockRequest(sku=sku))).stock


def balanced(stock: pb.Stock) -> bool:
    return stock.available >= 0 and stock.initial == stock.available + stock.reserved + stock.sold


async def test_catalog_pages_through_every_product(inventory: InventoryUnderTest) -> None:
    seen: list[pb.Product] = []
    token = ""
    while True:
        page = await inventory.stub.ListProducts(
            pb.ListProductsRequest(page_size=7, page_token=token)
        )
        seen.extend(page.products)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) >= 20
    assert [p.sku for p in seen] == sorted(p.sku for p in seen)
    mug = next(p for p in seen if p.sku == "SKU-MUG")
    assert (mug.price.currency_code, mug.price.units, mug.price.nanos) == ("EUR", 9, 900_000_000)
    assert mug.stock_state == common_pb2.STOCK_STATE_IN_STOCK


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListProductsRequest(page_size=-1), "page_size"),
        (pb.ListProductsRequest(page_size=101), "page_size"),
        (pb.ListProductsRequest(page_token="not-a-token"), "page_token"),
    ],
)
async def test_bad_paging_is_invalid_argument(
    inventory: InventoryUnderTest, request_: pb.ListProductsRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.ListProducts(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == [field]


async def test_unknown_sku_is_not_found_with_resource_info(inventory: InventoryUnderTest) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.GetProduct(pb.GetProductRequest(sku="SKU-NOPE"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    (info,) = status_details(caught.value)
    assert isinstance(info, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.resource_name) == ("product", "SKU-NOPE")


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (reserve_request("r1", "u1", "SKU-MUG", 0), ["lines[0].quantity"]),
        (reserve_request("r1", "u1", "SKU-MUG", -5), ["lines[0].quantity"]),
        (reserve_request("r1", "u1", "SKU-MUG", 10_001), ["lines[0].quantity"]),
        (reserve_request("", "u1", "SKU-MUG"), ["reservation_id"]),
        (reserve_request("r" * 129, "u1", "SKU-MUG"), ["reservation_id"]),
        (reserve_request("r1", "", "SKU-MUG"), ["user_id"]),
        (reserve_request("r1", "u1", "bad sku!"), ["lines[0].sku"]),
        (reserve_request("r1", "u1", ""), ["lines[0].sku"]),
        (pb.ReserveRequest(reservation_id="r1", user_id="u1"), ["lines"]),
        (
            pb.ReserveRequest(
                reservation_id="r1",
                user_id="u1",
                lines=[pb.ReservationLine(sku="SKU-MUG", quantity=1)] * 2,
            ),
            ["lines[1].sku"],
        ),
        (
            pb.ReserveRequest(
                reservation_id="r1",
                user_id="u1",
                lines=[pb.ReservationLine(sku="SKU-MUG", quantity=1)],
                ttl=duration_pb2.Duration(seconds=0),
            ),
            ["ttl"],
        ),
    ],
)
async def test_bad_reserve_is_refused_and_changes_nothing(
    inventory: InventoryUnderTest, request_: pb.ReserveRequest, fields: list[str]
) -> None:
    before = await stock_of(inventory, "SKU-MUG")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Reserve(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == fields
    assert await stock_of(inventory, "SKU-MUG") == before


async def test_reserve_unknown_sku_is_not_found(inventory: InventoryUnderTest) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Reserve(reserve_request("r1", "u1", "SKU-UNKNOWN"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_replayed_reservation_returns_first_answer_and_deducts_once(
    inventory: InventoryUnderTest,
) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-MUG", available=10))
    first = await inventory.stub.Reserve(reserve_request("order-1", "alice", "SKU-MUG", 3))
    again = await inventory.stub.Reserve(reserve_request("order-1", "alice", "SKU-MUG", 3))
    assert not first.replayed and again.replayed
    assert again.reservation == first.reservation
    stock = await stock_of(inventory, "SKU-MUG")
    assert (stock.available, stock.reserved) == (7, 3) and balanced(stock)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Reserve(reserve_request("order-1", "bob", "SKU-MUG", 3))
    assert error_reason(caught.value) == "RESERVATION_MISMATCH"


async def test_release_twice_returns_stock_once(inventory: InventoryUnderTest) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-MUG", available=5))
    await inventory.stub.Reserve(reserve_request("o-2", "alice", "SKU-MUG", 2))
    release = pb.ReleaseRequest(reservation_id="o-2", skus=["SKU-MUG"])
    first = await inventory.stub.Release(release)
    second = await inventory.stub.Release(release)
    assert first.reservation.state == second.reservation.state == pb.RESERVATION_STATE_RELEASED
    stock = await stock_of(inventory, "SKU-MUG")
    assert (stock.available, stock.reserved) == (5, 0) and balanced(stock)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Commit(pb.CommitRequest(reservation_id="o-2", skus=["SKU-MUG"]))
    assert error_reason(caught.value) == "RESERVATION_RELEASED"
    with pytest.raises(grpc.aio.AioRpcError) as replay:
        await inventory.stub.Reserve(reserve_request("o-2", "alice", "SKU-MUG", 2))
    assert error_reason(replay.value) == "RESERVATION_RELEASED"
    assert (await stock_of(inventory, "SKU-MUG")).available == 5


async def test_commit_makes_units_sold_once(inventory: InventoryUnderTest) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-MUG", available=5))
    await inventory.stub.Reserve(reserve_request("o-3", "alice", "SKU-MUG", 2))
    commit = pb.CommitRequest(reservation_id="o-3", skus=["SKU-MUG"])
    await inventory.stub.Commit(commit)
    await inventory.stub.Commit(commit)
    stock = await stock_of(inventory, "SKU-MUG")
    assert (stock.available, stock.reserved, stock.sold) == (3, 0, 2) and balanced(stock)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Release(pb.ReleaseRequest(reservation_id="o-3", skus=["SKU-MUG"]))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(caught.value) == "RESERVATION_COMMITTED"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await inventory.stub.Commit(pb.CommitRequest(reservation_id="nope", skus=["SKU-MUG"]))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_multi_line_reserve_is_all_or_nothing(inventory: InventoryUnderTest) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-MUG", available=5))
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-CABLE", available=1))
    request = pb.ReserveRequest(
        reservation_id="multi",
        user_id="alice",
        lines=[
            pb.ReservationLine(sku="SKU-MUG", quantity=2),
            pb.ReservationLine(sku="SKU-CABLE", quantity=2),
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Reserve(request)
    assert error_reason(caught.value) == "SOLD_OUT"
    mug, cable = (
        await inventory.stub.BatchGetStock(pb.BatchGetStockRequest(skus=["SKU-MUG", "SKU-CABLE"]))
    ).stocks
    assert (mug.available, mug.reserved, cable.available) == (5, 0, 1)


async def test_per_user_limit_and_sale_window(inventory: InventoryUnderTest) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-WATCH", available=10))
    await inventory.stub.ConfigureSale(
        pb.ConfigureSaleRequest(sku="SKU-WATCH", sale=pb.SaleConfig(per_user_limit=2))
    )
    await inventory.stub.Reserve(reserve_request("a", "alice", "SKU-WATCH", 2))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Reserve(reserve_request("b", "alice", "SKU-WATCH", 1))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(caught.value) == "LIMIT_EXCEEDED"
    future = timestamp_pb2.Timestamp()
    future.GetCurrentTime()
    future.seconds += 3600
    await inventory.stub.ConfigureSale(
        pb.ConfigureSaleRequest(sku="SKU-WATCH", sale=pb.SaleConfig(start_time=future))
    )
    with pytest.raises(grpc.aio.AioRpcError) as closed:
        await inventory.stub.Reserve(reserve_request("c", "bob", "SKU-WATCH", 1))
    assert error_reason(closed.value) == "SALE_NOT_ACTIVE"
    with pytest.raises(grpc.aio.AioRpcError) as bad_window:
        await inventory.stub.ConfigureSale(
            pb.ConfigureSaleRequest(
                sku="SKU-WATCH",
                sale=pb.SaleConfig(start_time=future, end_time=timestamp_pb2.Timestamp(seconds=5)),
            )
        )
    assert bad_window.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_stock_admin_validation(inventory: InventoryUnderTest) -> None:
    for call, request_ in [
        (inventory.stub.SetStock, pb.SetStockRequest(sku="SKU-MUG", available=-1)),
        (inventory.stub.Restock, pb.RestockRequest(sku="SKU-MUG", quantity=0)),
        (inventory.stub.BatchGetStock, pb.BatchGetStockRequest(skus=[])),
        (inventory.stub.BatchGetStock, pb.BatchGetStockRequest(skus=["SKU-MUG"] * 101)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request_)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    restocked = await inventory.stub.Restock(pb.RestockRequest(sku="SKU-MUG", quantity=5))
    assert balanced(restocked.stock)


async def test_sweeper_releases_expired_reservations(inventory: InventoryUnderTest) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-MUG", available=3))
    request = reserve_request("short", "alice", "SKU-MUG", 3)
    request.ttl.CopyFrom(duration_pb2.Duration(seconds=1))
    await inventory.stub.Reserve(request)
    assert (await stock_of(inventory, "SKU-MUG")).available == 0
    for _ in range(60):
        await asyncio.sleep(0.1)
        stock = await stock_of(inventory, "SKU-MUG")
        if stock.available == 3:
            break
    assert (stock.available, stock.reserved) == (3, 0) and balanced(stock)
    released = await inventory.stub.Release(
        pb.ReleaseRequest(reservation_id="short", skus=["SKU-MUG"])
    )
    assert released.reservation.state == pb.RESERVATION_STATE_RELEASED
    assert (await stock_of(inventory, "SKU-MUG")).available == 3


async def test_sold_out_snapshot_answers_without_redis_and_flips_back(
    inventory: InventoryUnderTest,
) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-MUG", available=1))
    await inventory.stub.Reserve(reserve_request("only", "alice", "SKU-MUG"))
    assert inventory.keeper.snapshot.is_sold_out("SKU-MUG")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.stub.Reserve(reserve_request("late", "bob", "SKU-MUG"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(caught.value) == "SOLD_OUT"
    await inventory.stub.Release(pb.ReleaseRequest(reservation_id="only", skus=["SKU-MUG"]))
    for _ in range(100):
        if not inventory.keeper.snapshot.is_sold_out("SKU-MUG"):
            break
        await asyncio.sleep(0.01)
    assert not inventory.keeper.snapshot.is_sold_out("SKU-MUG")
    won = await inventory.stub.Reserve(reserve_request("late", "bob", "SKU-MUG"))
    assert won.reservation.state == pb.RESERVATION_STATE_RESERVED
