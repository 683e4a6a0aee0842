"""The browser frontend in headless Chromium against the real mesh: the same gRPC API through the
edge's gRPC-Web filter. A purchase ends PAID on screen when the signed payment callback lands; a
sold-out flash sale says so; a tampered cart token gives a clear sentence and a fresh cart; the
mesh panel follows a live traffic shift. Each page is saved as a screenshot in tests/artifacts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from servers.payment.signing import SignedFields, sign
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.payment.v1 import payment_pb2, payment_pb2_grpc
from tests.e2e.conftest import ARTIFACTS, RunningMesh

pytestmark = pytest.mark.slow

TIMEOUT_MS = 15_000


@pytest.fixture
def page(chromium: Any, mesh: RunningMesh) -> Iterator[Any]:
    """A fresh browser context (its own localStorage, so its own user) on the shop's home page."""
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.goto(mesh.url)
    yield tab
    context.close()
    assert problems == []  # no uncaught script error on any page (e.g. a bigint in JSON)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _pay(mesh: RunningMesh, order_id: int) -> payment_pb2.HandleCallbackResponse:
    """What the payment provider does: a callback signed with the secret the mesh gave payment."""
    orders = order_pb2_grpc.OrderServiceStub(mesh.channel)
    order = orders.GetOrder(order_pb2.GetOrderRequest(order_id=order_id), timeout=5).order
    provider, secret = mesh.payment_secret()
    total, stamp = order.total, int(time.time())
    status = "PROVIDER_STATUS_SUCCEEDED"
    fields = SignedFields(
        provider,
        f"pay-{order_id}",
        order_id,
        total.currency_code,
        total.units,
        total.nanos,
        status,
        stamp,
    )
    request = payment_pb2.HandleCallbackRequest(
        provider=provider,
        payment_id=fields.payment_id,
        order_id=order_id,
        amount=total,
        status=status,
        signature=sign(secret, fields),
    )
    request.timestamp.FromSeconds(stamp)
    stub = payment_pb2_grpc.PaymentServiceStub(mesh.channel)
    return stub.HandleCallback(request, timeout=10)


def test_browse_cart_coupon_checkout_then_paid_live(page: Any, mesh: RunningMesh) -> None:
    page.locator('[data-sku="SKU-EARBUDS"] [data-stock] .badge').wait_for()
    _shot(page, "products")
    page.click('[data-add="SKU-EARBUDS"]')
    page.locator("#notice", has_text="Drift wireless earbuds to your cart").wait_for()

    page.click('[data-sku="SKU-WATCH"] a')
    page.locator("h1", has_text="Pulse smartwatch").wait_for()
    _shot(page, "product")
    page.click('[data-add="SKU-WATCH"]')
    page.locator("#notice", has_text="Pulse smartwatch").wait_for()

    page.click("#nav-cart")
    page.locator('[data-line="SKU-WATCH"]').wait_for()
    assert page.locator("[data-line]").count() == 2
    page.fill("#coupon", "welcome10")
    page.click("text=Apply coupon")
    page.locator('[data-coupon="WELCOME10"]').wait_for()
    page.select_option("#currency", "USD")
    page.locator("#notice", has_text="Prices shown in USD").wait_for()
    assert "$" in page.inner_text("[data-total]")
    _shot(page, "cart")

    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
    page.click("#checkout")
    page.wait_for_url(re.compile(r"#/order/\d+$"))
    page.locator('[data-status="PENDING_PAYMENT"]').wait_for()
    _shot(page, "order-pending")
    order_id = int(page.url.rsplit("/", 1)[1])

    reply = _pay(mesh, order_id)
    assert reply.payment.outcome == payment_pb2.PAYMENT_OUTCOME_APPLIED
    page.locator('[data-status="PAID"]', has_text="Paid").wait_for()
    assert page.evaluate("window.__sameDocument") is True  # pushed by WatchOrder, no reload
    _shot(page, "order-paid")


def test_flash_sale_counts_down_sells_the_last_unit_then_says_sold_out(
    page: Any, mesh: RunningMesh, chromium: Any
) -> None:
    sku = "SKU-LAPTOP-13"
    stub = inventory_pb2_grpc.InventoryServiceStub(mesh.channel)
    stub.SetStock(inventory_pb2.SetStockRequest(sku=sku, available=1), timeout=5)
    sale = inventory_pb2.SaleConfig(per_user_limit=1)
    sale.start_time.FromSeconds(int(time.time()) + 4)
    sale.end_time.FromSeconds(int(time.time()) + 3600)
    stub.ConfigureSale(inventory_pb2.ConfigureSaleRequest(sku=sku, sale=sale), timeout=5)

    page.goto(f"{mesh.url}#/sale/{sku}")
    page.locator('[data-countdown][data-phase="waiting"]', has_text="Starts in").wait_for()
    assert page.is_disabled("#buy")
    _shot(page, "sale-countdown")
    page.locator("#buy:enabled").wait_for()
    page.click("#buy")
    page.locator('[data-outcome="won"]', has_text="You got one!").wait_for()

    late = chromium.new_context()  # someone else, a moment too late
    try:
        other = late.new_page()
        other.set_default_timeout(TIMEOUT_MS)
        other.goto(f"{mesh.url}#/sale/{sku}")
        other.locator('[data-outcome="sold-out"]', has_text="Sold out").wait_for()
        assert other.is_disabled("#buy")
        _shot(other, "sale-sold-out")
    finally:
        late.close()


def test_a_tampered_cart_token_gives_a_clear_message_and_a_fresh_cart(
    page: Any, mesh: RunningMesh
) -> None:
    page.click('[data-add="SKU-EARBUDS"]')
    page.locator("#notice", has_text="Added").wait_for()
    token = page.evaluate("localStorage.getItem('shopmesh.cartToken')")
    assert token
    flipped = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    page.evaluate("t => localStorage.setItem('shopmesh.cartToken', t)", flipped)

    page.click("#nav-cart")
    page.locator("#notice", has_text="Your saved cart could not be read").wait_for()
    page.locator("[data-empty-cart]").wait_for()
    fresh = page.evaluate("localStorage.getItem('shopmesh.cartToken')")
    assert fresh and fresh not in {token, flipped}
    assert "CART_TOKEN" not in page.inner_text("body")  # a sentence, not a raw reason or code
    _shot(page, "cart-invalid")


def test_mesh_panel_shows_weights_and_follows_a_live_shift(page: Any, mesh: RunningMesh) -> None:
    page.locator("[data-sku]").first.wait_for()  # the product list has called inventory
    page.goto(f"{mesh.url}#/mesh")
    v2 = page.locator('[data-version="inventory/v2"] [data-requests]')
    v2.wait_for()
    weight = page.locator('[data-version="inventory/v2"] [data-weight]')
    before = int(v2.inner_text())
    assert weight.inner_text() in {"10%", "50%"}  # as rendered, or as another test shifted it
    mesh.cli("shift", "inventory", "v1=0", "v2=100")
    weight.filter(has_text="100%").wait_for()
    stub = inventory_pb2_grpc.InventoryServiceStub(mesh.channel)
    for _ in range(10):
        stub.GetStock(inventory_pb2.GetStockRequest(sku="SKU-MUG"), timeout=5)
    page.wait_for_function(  # the counts follow without a reload
        "n => Number(document.querySelector("
        "'[data-version=\"inventory/v2\"] [data-requests]').textContent) >= n",
        arg=before + 10,
    )
    _shot(page, "mesh")
    mesh.cli("shift", "inventory", "v1=90", "v2=10")
