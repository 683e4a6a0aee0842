"""Canonical encoding, signing and verification: no field shifting, rotation, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from servers.payment.signing import SignedFields, canonical, sign, verify

BASE = SignedFields("acme", "pay-1", 42, "EUR", 12, 340_000_000, "PROVIDER_STATUS_SUCCEEDED", 1000)


@pytest.mark.parametrize(
    "other",
    [
        SignedFields(
            "acm", "epay-1", 42, "EUR", 12, 340_000_000, "PROVIDER_STATUS_SUCCEEDED", 1000
        ),
        SignedFields(
            "acme", "pay-14", 2, "EUR", 12, 340_000_000, "PROVIDER_STATUS_SUCCEEDED", 1000
        ),
        SignedFields(
            "acme", "pay-1", 42, "EUR", 12, 340_000_001, "PROVIDER_STATUS_SUCCEEDED", 1000
        ),
        SignedFields(
            "acme", "pay-1", 42, "USD", 12, 340_000_000, "PROVIDER_STATUS_SUCCEEDED", 1000
        ),
        SignedFields("acme", "pay-1", 42, "EUR", 12, 340_000_000, "PROVIDER_STATUS_FAILED", 1000),
        SignedFields(
            "acme", "pay-1", 42, "EUR", 12, 340_000_000, "PROVIDER_STATUS_SUCCEEDED", 1001
        ),
    ],
)
def test_every_field_change_changes_the_encoding_and_signature(other: SignedFields) -> None:
    assert canonical(other) != canonical(BASE)
    assert sign("k", other) != sign("k", BASE)
    assert not verify(["k"], other, sign("k", BASE))


def test_signature_is_lowercase_hex_hmac_sha256_and_verifies_under_any_rotated_secret() -> None:
    signature = sign("old", BASE)
    assert len(signature) == 64 and signature == signature.lower()
    assert verify(["new", "old"], BASE, signature)
    assert verify(["old"], BASE, signature)
    assert not verify(["new"], BASE, signature)
    assert not verify([], BASE, signature)
    assert not verify(["old"], BASE, signature.upper())


def test_cli_prints_a_json_request_whose_signature_verifies() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "servers.payment.sign",
            "--provider",
            "acme",
            "--secret",
            "s3",
            "--order-id",
            "7",
            "--amount",
            "12.34",
            "--currency",
            "EUR",
            "--payment-id",
            "p-9",
            "--timestamp",
            "1700000000",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    body = json.loads(out)
    assert body["amount"] == {"currencyCode": "EUR", "units": "12", "nanos": 340_000_000}
    fields = SignedFields(
        "acme", "p-9", 7, "EUR", 12, 340_000_000, "PROVIDER_STATUS_SUCCEEDED", 1_700_000_000
    )
    assert body["signature"] == sign("s3", fields)
