"""The shop's request mix for `bench curve`: browse, cart, checkout and flash-sale calls in stated
proportions, each request's kind drawn deterministically from its index.

The plan (SKUs, proportions, the checkout carts made before the run) travels to the generator
processes in the BENCH_MIX environment variable and a JSON file of cart tokens.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from shop.cart.v1 import cart_pb2
from shop.inventory.v1 import inventory_pb2 as inv
from shop.order.v1 import order_pb2

MIX = {"browse": 0.60, "cart": 0.25, "checkout": 0.05, "flash": 0.10}
_INVENTORY = "/shop.inventory.v1.InventoryService/"
_CART = "/shop.cart.v1.CartService/"
PLACE = "/shop.order.v1.OrderService/PlaceOrder"
BROWSE_SKUS = ("SKU-PHONE-X1", "SKU-EARBUDS", "SKU-WATCH", "SKU-TABLET", "SKU-CHARGER", "SKU-MUG")


def kind_of(index: int, mix: Mapping[str, float]) -> str:
    """A fixed pseudo-random draw per index (Knuth's multiplicative hash), so every generator
    process and every rerun agrees on what request `index` is."""
    draw = ((index * 2654435761) % 2**32) / 2**32
    total = sum(mix.values())
    edge = 0.0
    for kind, share in mix.items():
        edge += share / total
        if draw < edge:
            return kind
    return list(mix)[-1]


@functools.cache
def _plan() -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(os.environ["BENCH_MIX"])
    with open(plan["tokens"]) as handle:
        plan["carts"] = json.load(handle)
    return plan


def request(index: int) -> tuple[str, str, bytes]:
    plan = _plan()
    kind = kind_of(index, plan["mix"])
    user = f"{plan['nonce']}-u{index}"
    if kind == "browse":
        if index % 3 == 0:
            body = inv.ListProductsRequest(page_size=12).SerializeToString()
            return kind, _INVENTORY + "ListProducts", body
        sku = BROWSE_SKUS[index % len(BROWSE_SKUS)]
        return kind, _INVENTORY + "GetProduct", inv.GetProductRequest(sku=sku).SerializeToString()
    if kind == "cart":
        sku = BROWSE_SKUS[index % len(BROWSE_SKUS)]
        add = cart_pb2.AddItemRequest(user_id=user, sku=sku, quantity=1)
        return kind, _CART + "AddItem", add.SerializeToString()
    if kind == "checkout":
        carts = plan["carts"]
        owner, token = carts[index % len(carts)]
        body = cart_pb2.CheckoutRequest(user_id=owner, cart_token=token).SerializeToString()
        return kind, _CART + "Checkout", body
    line = order_pb2.PlaceOrderLine(sku=plan["flash_sku"], quantity=1)
    place = order_pb2.PlaceOrderRequest(request_id=f"{user}-f", user_id=user, lines=[line])
    return kind, PLACE, place.SerializeToString()


async def make_carts(address: str, nonce: str, sku: str, count: int) -> list[tuple[str, str]]:
    """`count` carts of one item each, for distinct users: each checkout places a new order."""
    import asyncio

    import grpc

    from shop.cart.v1 import cart_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = cart_pb2_grpc.CartServiceStub(channel)
        carts: list[tuple[str, str]] = []
        for first in range(0, count, 64):
            users = [f"{nonce}-c{i}" for i in range(first, min(first + 64, count))]
            replies = await asyncio.gather(
                *(stub.AddItem(cart_pb2.AddItemRequest(user_id=u, sku=sku, quantity=1), timeout=10)
                  for u in users)
            )  # fmt: skip
            carts += [(u, r.cart_token) for u, r in zip(users, replies, strict=True)]
    return carts
