"""Callback validation, the payload hash and Bloom sizing: pure rules, no server."""

from __future__ import annotations

import math

import pytest

from servers.common.errors import InvalidArgument
from servers.payment.domain import BloomShape, ProviderStatus, parse_callback

GOOD = {
    "provider": "acme",
    "payment_id": "pay-1",
    "order_id": 42,
    "amount": ("EUR", 12, 340_000_000),
    "status": "PROVIDER_STATUS_SUCCEEDED",
    "timestamp": (1_700_000_000, 5_000_000),
    "signature": "ab" * 32,
}


def test_a_good_callback_parses_into_minor_units_and_milliseconds() -> None:
    parsed = parse_callback(**GOOD)  # type: ignore[arg-type]
    assert parsed.amount_minor == 1234
    assert parsed.status is ProviderStatus.SUCCEEDED
    assert parsed.timestamp_ms == 1_700_000_000_005
    assert parsed.key == ("acme", "pay-1")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"provider": ""}, "provider"),
        ({"provider": "x" * 65}, "provider"),
        ({"payment_id": ""}, "payment_id"),
        ({"payment_id": "p" * 129}, "payment_id"),
        ({"payment_id": "a\nb"}, "payment_id"),
        ({"order_id": 0}, "order_id"),
        ({"order_id": 1 << 63}, "order_id"),
        ({"amount": None}, "amount"),
        ({"amount": ("XXX", 1, 0)}, "amount.currency_code"),
        ({"amount": ("EUR", 0, 0)}, "amount"),
        ({"amount": ("EUR", -1, 0)}, "amount"),
        ({"amount": ("EUR", 1, 5)}, "amount"),
        ({"amount": ("EUR", 1, -5_000_000)}, "amount"),
        ({"status": ""}, "status"),
        ({"status": "PROVIDER_STATUS_UNSPECIFIED"}, "status"),
        ({"timestamp": None}, "timestamp"),
        ({"signature": ""}, "signature"),
        ({"signature": "AB" * 32}, "signature"),
        ({"signature": "ab" * 31}, "signature"),
    ],
)
def test_malformed_fields_are_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_callback(**{**GOOD, **change})  # type: ignore[arg-type]
    assert [v.field for v in caught.value.violations] == [field]


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_callback("", "", 0, None, "", None, "")
    fields = [v.field for v in caught.value.violations]
    assert fields == ["provider", "payment_id", "order_id", "amount", "status", "timestamp",
                      "signature"]  # fmt: skip


def test_payload_hash_ignores_timestamp_and_signature_but_not_content() -> None:
    first = parse_callback(**GOOD)  # type: ignore[arg-type]
    retry = parse_callback(**{**GOOD, "timestamp": (1_700_086_400, 0), "signature": "cd" * 32})  # type: ignore[arg-type]
    other = parse_callback(**{**GOOD, "amount": ("EUR", 12, 350_000_000)})  # type: ignore[arg-type]
    failed = parse_callback(**{**GOOD, "status": "PROVIDER_STATUS_FAILED"})  # type: ignore[arg-type]
    assert first.payload_hash() == retry.payload_hash()
    assert len({first.payload_hash(), other.payload_hash(), failed.payload_hash()}) == 3


@pytest.mark.parametrize(
    ("expected", "fp", "bits_per_key", "hashes"),
    [(1_000_000, 0.0001, 19.17, 13), (1_000_000, 0.01, 9.59, 7), (1000, 0.001, 14.38, 10)],
)
def test_bloom_shape_follows_the_textbook_formulas(
    expected: int, fp: float, bits_per_key: float, hashes: int
) -> None:
    shape = BloomShape.for_keys(expected, fp)
    assert shape.bits / expected == pytest.approx(bits_per_key, abs=0.01)
    assert shape.hashes == hashes
    predicted = (1 - math.exp(-shape.hashes * expected / shape.bits)) ** shape.hashes
    assert predicted == pytest.approx(fp, rel=0.1)


@pytest.mark.parametrize(("expected", "fp"), [(0, 0.01), (10, 0.0), (10, 1.0)])
def test_bloom_shape_refuses_nonsense(expected: int, fp: float) -> None:
    with pytest.raises(ValueError, match="expected"):
        BloomShape.for_keys(expected, fp)
