"""Domain errors survive a hop: encoded by `to_grpc_status`, decoded by `from_rpc_error`."""

from __future__ import annotations

import grpc
import pytest

from servers.common import errors
from servers.common.status import from_rpc_error, to_grpc_status


def _over_the_wire(error: errors.ShopError) -> grpc.aio.AioRpcError:
    status = to_grpc_status(error)
    return grpc.aio.AioRpcError(
        status.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*status.trailing_metadata),
        status.details,
    )


@pytest.mark.parametrize(
    "error",
    [
        errors.PreconditionFailed("SOLD_OUT", "inventory.shopmesh", "sold out", {"sku": "A"}),
        errors.NotFound("product", "SKU-X", "no such product"),
        errors.InvalidArgument([errors.FieldViolation("lines[0].quantity", "must be >= 1")]),
        errors.Overloaded("busy", 0.2, "PLACING_BUSY", "order.shopmesh"),
        errors.Conflict("in flight", 0.05, "IN_FLIGHT", "order.shopmesh"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_domain_error_decodes_to_the_same_status(error: errors.ShopError) -> None:
    decoded = from_rpc_error(_over_the_wire(error), "peer")
    assert type(decoded) is type(error)
    again = to_grpc_status(decoded)
    first = to_grpc_status(error)
    assert (again.code, again.details, again.trailing_metadata) == (
        first.code,
        first.details,
        first.trailing_metadata,
    )


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN]
)
def test_anything_else_is_the_dependency_being_unavailable(code: grpc.StatusCode) -> None:
    raw = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "boom")
    decoded = from_rpc_error(raw, "inventory")
    assert isinstance(decoded, errors.DependencyUnavailable)
    assert to_grpc_status(decoded).code == grpc.StatusCode.UNAVAILABLE


def test_a_refusal_without_a_reason_is_not_trusted_as_a_business_rule() -> None:
    raw = grpc.aio.AioRpcError(
        grpc.StatusCode.FAILED_PRECONDITION, grpc.aio.Metadata(), grpc.aio.Metadata(), "no"
    )
    assert isinstance(from_rpc_error(raw, "inventory"), errors.DependencyUnavailable)


def test_a_repeated_refusal_reuses_its_status_and_a_different_one_does_not() -> None:
    def refusal(sku: str) -> errors.PreconditionFailed:
        return errors.PreconditionFailed("SOLD_OUT", "inv", f"{sku} is sold out", {"sku": sku})

    sold, again, other = refusal("SKU-A"), refusal("SKU-A"), refusal("SKU-B")
    first = to_grpc_status(sold)
    assert to_grpc_status(again) is first
    assert to_grpc_status(other) is not first
    newer = errors.PreconditionFailed(
        "SOLD_OUT", "inv", "SKU-A is sold out", {"sku": "SKU-A", "generation": "2"}
    )
    assert dict(to_grpc_status(newer).trailing_metadata) != dict(first.trailing_metadata)
