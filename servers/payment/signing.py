"""Canonical encoding and HMAC-SHA256 signing of a provider callback.

Public on purpose: tests, the browser end-to-end test, the README and providers' integration
code all need to produce a valid signature. The encoding is a version tag followed by
length-prefixed fields (`<len>:<value>,`), so no field value can be shifted into its neighbour
to forge another callback with the same signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

VERSION = "shopmesh-payment-callback-v1"


@dataclass(frozen=True, slots=True)
class SignedFields:
    """Every field the signature covers; `status` is the enum name, e.g. PROVIDER_STATUS_FAILED."""

    provider: str
    payment_id: str
    order_id: int
    currency: str
    units: int
    nanos: int
    status: str
    timestamp_s: int
    timestamp_nanos: int = 0


def _netstring(value: str) -> bytes:
    raw = value.encode()
    return str(len(raw)).encode() + b":" + raw + b","


def canonical(fields: SignedFields) -> bytes:
    """The bytes the provider signs."""
    parts = [
        VERSION,
        fields.provider,
        fields.payment_id,
        str(fields.order_id),
        fields.currency,
        str(fields.units),
        str(fields.nanos),
        fields.status,
        str(fields.timestamp_s),
        str(fields.timestamp_nanos),
    ]
    return b"".join(_netstring(part) for part in parts)


def sign(secret: str, fields: SignedFields) -> str:
    """Lowercase hex HMAC-SHA256 of the canonical encoding."""
    return hmac.new(secret.encode(), canonical(fields), hashlib.sha256).hexdigest()


def verify(secrets: Iterable[str], fields: SignedFields, signature: str) -> bool:
    """True when `signature` matches under any of the provider's current secrets (rotation).

    Every secret is tried, each with a constant-time compare, so timing says nothing about which
    secret (or which prefix of the signature) matched.
    """
    given = signature.encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(secret, fields).encode(), given)
    return matched
