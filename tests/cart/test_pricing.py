"""Exact pricing: reconciliation, one rounding per line, coupons, conversion, the data files."""

from __future__ import annotations

import json
import pathlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.cart.domain import DOMAIN, Cart, CartLine
from servers.cart.pricing import Conversion, Product, StockState, price_cart
from servers.cart.tables import RateTable
from servers.common.coupons import (
    DEFAULT_FILE,
    Coupon,
    CouponBook,
    CouponKind,
    split_proportionally,
)
from servers.common.errors import InvalidArgument, PreconditionFailed
from servers.common.settings import SettingsError

DATA = pathlib.Path(__file__).parents[2] / "servers" / "cart" / "data"
RATES = RateTable(DATA / "rates.json")
CURRENCIES = [*sorted(json.loads((DATA / "rates.json").read_text())["rates"]), "EUR"]
MUG = Product("SKU-MUG", "Mug", 990, "EUR")
PHONE = Product("SKU-PHONE-X1", "Phone", 69900, "EUR")
PRODUCTS = {p.sku: p for p in (MUG, PHONE)}


def cart_of(*lines: tuple[str, int], coupon: str = "") -> Cart:
    return Cart(bytes(16), tuple(CartLine(sku, qty) for sku, qty in lines), coupon)


def price(cart: Cart, coupon: Coupon | None = None, currency: str = "EUR") -> object:
    return price_cart(cart, PRODUCTS, {}, RATES.conversion(currency), coupon)


TEN = Coupon("TEN", CouponKind.PERCENT, percent=Decimal(10))
FIVE_OFF_50 = Coupon("FIVE", CouponKind.FIXED, amount_minor=500, min_spend_minor=5000)
PHONES = Coupon("PH", CouponKind.PERCENT, percent=Decimal(15), skus=frozenset({PHONE.sku}))


@pytest.mark.parametrize(
    ("coupon", "currency", "subtotals", "discounts"),
    [
        (None, "EUR", [2970, 69900], [0, 0]),
        (TEN, "EUR", [2970, 69900], [297, 6990]),
        (FIVE_OFF_50, "EUR", [2970, 69900], [20, 480]),  # 20.38 / 479.62: the spare cent to 0.62
        (PHONES, "EUR", [2970, 69900], [0, 10485]),
        (None, "USD", [3220, 75786], [0, 0]),  # 29.70 x 1.0842 = 32.20074; 699 x 1.0842 = 757.8558
        (None, "JPY", [4821, 113455], [0, 0]),  # 4820.607 and 113454.69, each rounded once
        (TEN, "JPY", [4821, 113455], [482, 11346]),  # 482.1 and 11345.5 (half up)
        (FIVE_OFF_50, "JPY", [4821, 113455], [33, 779]),  # 5 EUR = 811.55 -> 812 JPY, split
    ],
)
def test_worked_examples(
    coupon: Coupon | None, currency: str, subtotals: list[int], discounts: list[int]
) -> None:
    priced = price(cart_of(("SKU-MUG", 3), ("SKU-PHONE-X1", 1)), coupon, currency)
    assert [line.subtotal for line in priced.lines] == subtotals  # type: ignore[attr-defined]
    assert [line.discount for line in priced.lines] == discounts  # type: ignore[attr-defined]
    assert priced.total == sum(subtotals) - sum(discounts)  # type: ignore[attr-defined]


def test_minimum_spend_counts_only_eligible_lines_in_the_catalog_currency() -> None:
    assert price(cart_of(("SKU-MUG", 5)), FIVE_OFF_50).discount == 0  # type: ignore[attr-defined]
    assert price(cart_of(("SKU-MUG", 6)), FIVE_OFF_50).discount == 500  # type: ignore[attr-defined]
    mug_only = Coupon("M", CouponKind.FIXED, amount_minor=100_000, skus=frozenset({MUG.sku}))
    priced = price(cart_of(("SKU-MUG", 2), ("SKU-PHONE-X1", 1)), mug_only)
    assert [line.discount for line in priced.lines] == [1980, 0]  # type: ignore[attr-defined]


def test_unit_price_is_exact_and_rounding_happens_per_line() -> None:
    priced = price(cart_of(("SKU-MUG", 3)), None, "USD")
    line = priced.lines[0]  # type: ignore[attr-defined]
    assert line.unit_price == Decimal("10.73358")
    assert line.subtotal == 3220  # not 3 x 10.73 = 32.19


products = st.builds(
    Product,
    sku=st.sampled_from([f"S{i}" for i in range(8)]),
    title=st.just("t"),
    unit_minor=st.integers(0, 5_000_000),
    currency=st.just("EUR"),
)
coupons = st.one_of(
    st.none(),
    st.builds(
        Coupon,
        code=st.just("C"),
        kind=st.just(CouponKind.PERCENT),
        percent=st.decimals(Decimal("0.01"), Decimal(100), places=2),
        min_spend_minor=st.integers(0, 100_000),
        skus=st.frozensets(st.sampled_from([f"S{i}" for i in range(8)]), max_size=3),
    ),
    st.builds(
        Coupon,
        code=st.just("C"),
        kind=st.just(CouponKind.FIXED),
        amount_minor=st.integers(1, 10_000_000),
        min_spend_minor=st.integers(0, 100_000),
        skus=st.frozensets(st.sampled_from([f"S{i}" for i in range(8)]), max_size=3),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    catalog=st.lists(products, min_size=1, max_size=8, unique_by=lambda p: p.sku),
    quantities=st.lists(st.integers(1, 10_000), min_size=1, max_size=8),
    coupon=coupons,
    currency=st.sampled_from(CURRENCIES),
)
def test_totals_reconcile_exactly_for_any_lines_and_coupon(
    catalog: list[Product], quantities: list[int], coupon: Coupon | None, currency: str
) -> None:
    lines = tuple(CartLine(p.sku, q) for p, q in zip(catalog, quantities, strict=False))
    cart = Cart(bytes(16), lines)
    priced = price_cart(cart, {p.sku: p for p in catalog}, {}, RATES.conversion(currency), coupon)
    assert priced.total == priced.subtotal - priced.discount
    assert priced.total == sum(line.total for line in priced.lines)
    assert priced.subtotal == sum(line.subtotal for line in priced.lines)
    assert all(0 <= line.discount <= line.subtotal for line in priced.lines)
    if coupon is not None and coupon.kind is CouponKind.FIXED and priced.discount:
        eligible = sum(line.subtotal for line in priced.lines if coupon.covers(line.sku))
        wanted = RATES.conversion(currency).minor(coupon.amount_minor)
        assert priced.discount == min(wanted, eligible)


@settings(max_examples=300, deadline=None)
@given(
    amounts=st.lists(st.integers(0, 10**12), min_size=1, max_size=20),
    currency=st.sampled_from(CURRENCIES),
)
def test_converting_and_back_is_within_one_minor_unit_per_line(
    amounts: list[int], currency: str
) -> None:
    conversion = RATES.conversion(currency)
    errors = [abs(conversion.back(conversion.minor(amount)) - amount) for amount in amounts]
    assert max(errors) <= 1
    assert sum(errors) <= len(amounts)


@given(
    rate=st.decimals(Decimal("0.34"), Decimal(100_000), places=6),
    amount=st.integers(0, 10**12),
)
def test_round_trip_holds_for_any_rate_whose_minor_unit_is_under_three_of_ours(
    rate: Decimal, amount: int
) -> None:
    conversion = Conversion("EUR", "USD", rate)
    assert abs(conversion.back(conversion.minor(amount)) - amount) <= 1


@given(
    amount=st.integers(0, 10**9),
    weights=st.lists(st.integers(0, 10**9), min_size=1, max_size=30),
)
def test_split_adds_up_and_never_exceeds_a_weight(amount: int, weights: list[int]) -> None:
    amount = min(amount, sum(weights))
    shares = split_proportionally(amount, weights)
    assert sum(shares) == amount
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))


def test_stock_state_is_carried_per_line() -> None:
    cart = cart_of(("SKU-MUG", 1), ("SKU-PHONE-X1", 1))
    priced = price_cart(cart, PRODUCTS, {"SKU-MUG": StockState.LOW}, RATES.conversion(""), None)
    assert [line.stock for line in priced.lines] == [StockState.LOW, StockState.UNKNOWN]


def test_coupon_book_codes_are_case_insensitive_and_checked(tmp_path: pathlib.Path) -> None:
    book = CouponBook.from_file(DEFAULT_FILE, DOMAIN, "CART_COUPONS_FILE")
    assert book.usable("welcome10", 0).code == "WELCOME10"
    with pytest.raises(PreconditionFailed) as unknown:
        book.usable("NOPE", 0)
    assert (unknown.value.reason, unknown.value.domain) == ("COUPON_INVALID", DOMAIN)
    with pytest.raises(PreconditionFailed) as expired:
        book.usable("SUMMER2020", 1_800_000_000)
    assert expired.value.reason == "COUPON_EXPIRED"
    bad = tmp_path / "coupons.json"
    bad.write_text(json.dumps({"coupons": [{"code": "X", "kind": "percent", "percent": "120"}]}))
    with pytest.raises(SettingsError, match=r"CART_COUPONS_FILE=.*percent"):
        CouponBook.from_file(bad, DOMAIN, "CART_COUPONS_FILE")


def _write_rates(path: pathlib.Path, usd: str) -> None:
    path.write_text(json.dumps({"base": "EUR", "rates": {"USD": usd}}))


def test_rate_table_reloads_when_the_file_changes_and_keeps_the_last_good_one(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "rates.json"
    _write_rates(path, "1.25")
    table = RateTable(path, check_every_s=0.0)
    assert table.conversion("USD").rate == Decimal("1.25")
    _write_rates(path, "1.5")
    assert table.conversion("USD").rate == Decimal("1.5")
    path.write_text("{not json")
    assert table.conversion("USD").rate == Decimal("1.5")
    _write_rates(path, "1.1234567")  # too fine: refused, the last good table stays
    assert table.conversion("USD").rate == Decimal("1.5")
    with pytest.raises(InvalidArgument) as unsupported:
        table.conversion("GBP")
    assert unsupported.value.violations[0].field == "currency_code"
    assert table.conversion("").target == "EUR"


@pytest.mark.parametrize(
    "rates",
    [{"USD": "0"}, {"USD": "-1"}, {"USD": "1.1234567"}, {"XXX": "1"}, {"USD": "abc"}],
)
def test_bad_rate_tables_are_refused_at_start(tmp_path: pathlib.Path, rates: object) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"base": "EUR", "rates": rates}))
    with pytest.raises(SettingsError):
        RateTable(path)
