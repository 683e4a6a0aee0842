"""`make bench-cart`: cart RPCs on a 10-line cart against the echo limit, side by side.

In one run, each at 64 requests in flight from a generator in its own process:
  echo      a bare grpc.aio echo server with a request of the same size (the framework limit)
  add       AddItem on a 10-line cart (decrypt, add, re-price from the catalog cache, encrypt)
  get       GetCart on the same cart
then the token codec on its own: encode and decode of a 10-line cart, in microseconds per op.
The cart service prices from its catalog cache (titles and prices refreshed in the background,
stock state at most 1 s old), so neither RPC calls inventory on the hot path.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import uuid

import grpc

from bench import loadgen, procs
from bench.echo import METHOD as ECHO_METHOD
from bench.report import emit
from servers.cart.domain import Cart
from servers.cart.keys import Keyring
from servers.cart.tokens import TokenCodec
from shop.cart.v1 import cart_pb2 as pb
from shop.cart.v1 import cart_pb2_grpc

ADD_ITEM = "/shop.cart.v1.CartService/AddItem"
GET_CART = "/shop.cart.v1.CartService/GetCart"
USER = "bench-user"
SKUS = (
    "SKU-PHONE-X1",
    "SKU-EARBUDS",
    "SKU-WATCH",
    "SKU-LAPTOP-13",
    "SKU-TABLET",
    "SKU-CHARGER",
    "SKU-CABLE",
    "SKU-SPEAKER",
    "SKU-KEYBOARD",
    "SKU-MOUSE",
)


def _token() -> str:
    return os.environ["BENCH_CART_TOKEN"]


def add_item(i: int) -> bytes:
    sku = SKUS[i % len(SKUS)]  # already in the cart: the cart stays at 10 lines
    request = pb.AddItemRequest(user_id=USER, cart_token=_token(), sku=sku, quantity=1)
    return request.SerializeToString()


def get_cart(_i: int) -> bytes:
    return pb.GetCartRequest(user_id=USER, cart_token=_token()).SerializeToString()


def echo_payload(i: int) -> bytes:
    return add_item(i)  # the same bytes on the wire as an AddItem


def _fill_cart(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        stub = cart_pb2_grpc.CartServiceStub(channel)
        token = ""
        for sku in SKUS:
            reply = stub.AddItem(
                pb.AddItemRequest(user_id=USER, cart_token=token, sku=sku, quantity=2),
                timeout=10,
            )
            token = reply.cart_token
        assert len(reply.cart.lines) == len(SKUS)
    return token


def codec_micros(ops: int = 20_000) -> dict[str, float]:
    """Encode and decode of a 10-line cart with AES-256-GCM, microseconds per op."""
    key = secrets.token_bytes(32)
    codec = TokenCodec(Keyring.from_pairs([("k1", key)]), 86_400)
    cart = Cart.new()
    for sku in SKUS:
        cart = cart.add(sku, 3)
    token = codec.encode(cart, USER)
    started = time.perf_counter()
    for _ in range(ops):
        codec.encode(cart, USER)
    encode_us = (time.perf_counter() - started) / ops * 1e6
    started = time.perf_counter()
    for _ in range(ops):
        codec.decode(token, USER)
    decode_us = (time.perf_counter() - started) / ops * 1e6
    return {"encode_us": encode_us, "decode_us": decode_us, "token_bytes": float(len(token))}


def _servers_env(
    redis_url: str, prefix: str, inventory_port: int, cart_port: int
) -> tuple[dict[str, str], dict[str, str]]:
    common = {"SHOPMESH_METRICS_PORT": "-1", "SHOPMESH_LOG_LEVEL": "WARNING"}
    inventory = {
        **common,
        "REDIS_URL": redis_url,
        "SHOPMESH_PORT": str(inventory_port),
        "INVENTORY_KEY_PREFIX": prefix,
    }
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    cart = {
        **common,
        "SHOPMESH_PORT": str(cart_port),
        "CART_KEYS": f"bench={key}",
        "CART_INVENTORY_TARGET": f"127.0.0.1:{inventory_port}",
        "CART_ORDER_TARGET": "127.0.0.1:9",  # checkout is not measured here
    }
    return inventory, cart


def main(argv: list[str]) -> int:
    parser = loadgen.rpc_bench_parser("bench cart", __doc__, rounds=True)
    args = parser.parse_args(argv)
    spec = {"in_flight": args.in_flight, "duration_s": args.duration}
    echo_port, inventory_port, cart_port = procs.free_port(), procs.free_port(), procs.free_port()
    prefix = f"benchcart{uuid.uuid4().hex[:8]}"
    inventory_env, cart_env = _servers_env(args.redis_url, prefix, inventory_port, cart_port)
    cart_address = f"127.0.0.1:{cart_port}"
    with (
        procs.running(procs.python("servers.inventory"), inventory_port, inventory_env),
        procs.running(procs.python("servers.cart"), cart_port, cart_env) as cart_server,
    ):
        os.environ["BENCH_CART_TOKEN"] = _fill_cart(cart_address)
        with procs.running(procs.python("bench.echo", str(echo_port)), echo_port):
            cpu_before = procs.cpu_seconds(cart_server.pid)
            runs = loadgen.interleaved(
                {
                    "echo": loadgen.LoadSpec(
                        f"127.0.0.1:{echo_port}", ECHO_METHOD, "bench.cart:echo_payload", **spec
                    ),
                    "add": loadgen.LoadSpec(cart_address, ADD_ITEM, "bench.cart:add_item", **spec),
                    "get": loadgen.LoadSpec(cart_address, GET_CART, "bench.cart:get_cart", **spec),
                },
                args.rounds,
            )
            cart_cpu_s = procs.cpu_seconds(cart_server.pid) - cpu_before
        # rates: the fastest round of each case; CPU per cart call: over every round
        cart_calls = sum(r.completed for k in ("add", "get") for r in runs[k])
        cart_cpu_us = cart_cpu_s / max(1, cart_calls)
        best = loadgen.fastest(runs)
        echo, add, get = best["echo"], best["add"], best["get"]
        rss = procs.rss_mb(cart_server.pid)
    procs.forget_keys(args.redis_url, prefix)
    codec = codec_micros()
    rows = [
        echo.row("echo", echo.rps),
        add.row("AddItem (10-line cart)", echo.rps),
        get.row("GetCart (10-line cart)", echo.rps),
    ]
    summary: dict[str, float | int] = {
        "echo_rps": round(echo.rps, 1),
        "add_item_rps": round(add.rps, 1),
        "get_cart_rps": round(get.rps, 1),
        "add_item_vs_echo": round(add.rps / echo.rps, 3),
        "get_cart_vs_echo": round(get.rps / echo.rps, 3),
        "add_item_p99_ms": round(add.latency_ms["p99"], 2),
        "get_cart_p99_ms": round(get.latency_ms["p99"], 2),
        "cart_cpu_us_per_rpc": round(cart_cpu_us * 1e6, 1),
        "token_encode_us": round(codec["encode_us"], 2),
        "token_decode_us": round(codec["decode_us"], 2),
        "token_bytes": int(codec["token_bytes"]),
        "rss_mb": round(rss, 1),
    }
    settings = {"in_flight": args.in_flight, "duration_s": args.duration, "rounds": args.rounds}
    emit("cart", rows, summary, settings)
    ok = add.ok > 0 and get.ok > 0 and add.ok == add.completed and get.ok == get.completed
    return 0 if ok else 1
