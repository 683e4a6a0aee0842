"""Print a signed callback as the JSON body for grpcurl or the HTTP/JSON route.

    python -m servers.payment.sign --provider acme --secret s3cret --order-id 42 \
        --amount 12.34 --currency EUR --payment-id pay-1 [--status failed] [--timestamp 1733300000]
"""

from __future__ import annotations

import argparse
import decimal
import sys
import time

from google.protobuf import json_format

from servers.common import money
from servers.payment.signing import SignedFields, sign
from shop.common.v1 import common_pb2
from shop.payment.v1 import payment_pb2 as pb

_STATUS = {"succeeded": "PROVIDER_STATUS_SUCCEEDED", "failed": "PROVIDER_STATUS_FAILED"}


def signed_request(
    secret: str,
    provider: str,
    payment_id: str,
    order_id: int,
    amount: str,
    currency: str,
    status: str = "PROVIDER_STATUS_SUCCEEDED",
    timestamp_s: int | None = None,
) -> pb.HandleCallbackRequest:
    """A HandleCallbackRequest signed with `secret`; `amount` is a decimal like "12.34"."""
    minor = int(decimal.Decimal(amount).scaleb(money.exponent(currency)))
    units, nanos = money.split(minor, currency)
    stamp = int(time.time()) if timestamp_s is None else timestamp_s
    fields = SignedFields(provider, payment_id, order_id, currency, units, nanos, status, stamp)
    request = pb.HandleCallbackRequest(
        provider=provider,
        payment_id=payment_id,
        order_id=order_id,
        amount=common_pb2.Money(currency_code=currency, units=units, nanos=nanos),
        status=status,
        signature=sign(secret, fields),
    )
    request.timestamp.FromSeconds(stamp)
    return request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers.payment.sign", description=__doc__)
    parser.add_argument("--provider", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--order-id", type=int, required=True)
    parser.add_argument("--amount", required=True, help='decimal amount, e.g. "12.34"')
    parser.add_argument("--currency", default="EUR")
    parser.add_argument("--payment-id", required=True)
    parser.add_argument("--status", choices=sorted(_STATUS), default="succeeded")
    parser.add_argument("--timestamp", type=int, help="unix seconds (default: now)")
    args = parser.parse_args(argv)
    request = signed_request(
        args.secret,
        args.provider,
        args.payment_id,
        args.order_id,
        args.amount,
        args.currency,
        _STATUS[args.status],
        args.timestamp,
    )
    sys.stdout.write(json_format.MessageToJson(request, indent=None) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
