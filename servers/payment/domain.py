"""Payment rules without gRPC: callbacks, their validation and payload hash, outcomes, records,
and the Bloom-filter sizing.

The idempotency key is (provider, payment_id). The payload hash covers what the callback *says*
(order, amount, status) but not its timestamp or signature: a provider retrying days later signs
a fresh timestamp, and that retry must still be recognised as the same callback.
"""

from __future__ import annotations

import enum
import hashlib
import math
from dataclasses import dataclass, replace

from servers.common import money
from servers.common.errors import InvalidArgument
from servers.common.validation import Violations
from servers.payment.signing import SignedFields

DOMAIN = "payment.shopmesh"
MAX_PROVIDER_LENGTH = 64
MAX_PAYMENT_ID_LENGTH = 128


class ProviderStatus(enum.Enum):
    SUCCEEDED = "PROVIDER_STATUS_SUCCEEDED"
    FAILED = "PROVIDER_STATUS_FAILED"


class Outcome(enum.Enum):
    APPLIED = "APPLIED"
    FAILED_RECORDED = "FAILED_RECORDED"
    REJECTED = "REJECTED"


class RecoveryPoint(enum.Enum):
    """How far a claimed callback got; a takeover resumes from here (Stripe-style)."""

    STARTED = "started"  # record inserted, order not called yet
    ORDER_DONE = "order_done"  # order call answered; its result is in the record
    FINISHED = "finished"  # outcome bytes stored


@dataclass(frozen=True, slots=True)
class Callback:
    provider: str
    payment_id: str
    order_id: int
    amount_minor: int
    currency: str
    status: ProviderStatus
    timestamp_ms: int
    signed: SignedFields
    signature: str

    @property
    def key(self) -> tuple[str, str]:
        return self.provider, self.payment_id

    def payload_hash(self) -> str:
        content = "\x1f".join(
            [
                self.provider,
                self.payment_id,
                str(self.order_id),
                self.currency,
                str(self.amount_minor),
                self.status.value,
            ]
        )
        return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """The authoritative SQL row of one (provider, payment_id)."""

    provider: str
    payment_id: str
    record_id: int
    order_id: int
    amount_minor: int
    currency: str
    status: ProviderStatus
    payload_hash: str
    created_ms: int
    recovery_point: RecoveryPoint = RecoveryPoint.STARTED
    outcome: Outcome | None = None
    outcome_reason: str = ""
    lock_owner: str = ""
    locked_ms: int = 0
    response: bytes = b""

    @property
    def key(self) -> tuple[str, str]:
        return self.provider, self.payment_id

    @property
    def done(self) -> bool:
        return self.recovery_point is RecoveryPoint.FINISHED

    def decided(self, outcome: Outcome, reason: str = "") -> PaymentRecord:
        return replace(
            self, outcome=outcome, outcome_reason=reason, recovery_point=RecoveryPoint.ORDER_DONE
        )


def parse_callback(
    provider: str,
    payment_id: str,
    order_id: int,
    amount: tuple[str, int, int] | None,
    status: str,
    timestamp: tuple[int, int] | None,
    signature: str,
) -> Callback:
    """Validate the decoded wire fields (amount = currency, units, nanos) into a Callback."""
    found = Violations()
    found.identifier("provider", provider, max_length=MAX_PROVIDER_LENGTH)
    found.identifier("payment_id", payment_id, max_length=MAX_PAYMENT_ID_LENGTH)
    if not 0 < order_id < 1 << 63:
        found.add("order_id", "must be a positive order id below 2^63")
    minor = _amount(found, amount)
    known = {s.value: s for s in ProviderStatus}
    if status not in known:
        found.add("status", "must be PROVIDER_STATUS_SUCCEEDED or PROVIDER_STATUS_FAILED")
    if timestamp is None:
        found.add("timestamp", "is required")
    if len(signature) != 64 or any(c not in "0123456789abcdef" for c in signature):
        found.add("signature", "must be 64 lowercase hex characters (HMAC-SHA256)")
    found.raise_if_any()
    assert amount is not None and timestamp is not None
    currency, units, nanos = amount
    signed = SignedFields(
        provider, payment_id, order_id, currency, units, nanos, status, timestamp[0], timestamp[1]
    )
    millis = timestamp[0] * 1000 + timestamp[1] // 1_000_000
    return Callback(
        provider, payment_id, order_id, minor, currency, known[status], millis, signed, signature
    )


def _amount(found: Violations, amount: tuple[str, int, int] | None) -> int:
    if amount is None:
        found.add("amount", "is required")
        return 0
    currency, units, nanos = amount
    if currency not in money.EXPONENTS:
        found.add("amount.currency_code", f"unsupported currency {currency!r}")
        return 0
    try:
        minor = money.join(units, nanos, currency, "amount")
    except InvalidArgument as exc:
        found.items.extend(exc.violations)
        return 0
    if minor <= 0:
        found.add("amount", "must be positive")
    return minor


@dataclass(frozen=True, slots=True)
class BloomShape:
    """Bits and hash count of a Bloom filter for `expected` keys at false-positive rate `fp`."""

    bits: int
    hashes: int

    @classmethod
    def for_keys(cls, expected: int, fp: float) -> BloomShape:
        if expected < 1 or not 0 < fp < 1:
            raise ValueError("need expected >= 1 and 0 < fp < 1")
        bits = math.ceil(-expected * math.log(fp) / math.log(2) ** 2)
        hashes = max(1, round(bits / expected * math.log(2)))
        return cls(bits, hashes)

    @property
    def bytes(self) -> int:
        return (self.bits + 7) // 8
