"""The domain exception tree as gRPC statuses with google.rpc error details, and back: a peer's
status decoded into the domain error it was made from (`from_rpc_error`)."""

from __future__ import annotations

import math
from typing import TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from servers.common import errors

_Detail = TypeVar("_Detail")


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _error_info(reason: str, domain: str, metadata: dict[str, str] | None = None) -> any_pb2.Any:
    return _pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata or {}))


def _retry_info(seconds: float) -> any_pb2.Any:
    whole = math.floor(seconds)
    delay = duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
    return _pack(error_details_pb2.RetryInfo(retry_delay=delay))


def _details(error: errors.ShopError) -> tuple[int, list[any_pb2.Any]]:
    """Return the google.rpc code and detail messages for `error`."""
    if isinstance(error, errors.InvalidArgument):
        if error.reason:
            return code_pb2.INVALID_ARGUMENT, [_error_info(error.reason, error.domain)]
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ]
        return code_pb2.INVALID_ARGUMENT, [
            _pack(error_details_pb2.BadRequest(field_violations=violations))
        ]
    if isinstance(error, errors.NotFound):
        info = error_details_pb2.ResourceInfo(
            resource_type=error.resource_type,
            resource_name=error.resource_name,
            description=error.message,
        )
        return code_pb2.NOT_FOUND, [_pack(info)]
    if isinstance(error, errors.PreconditionFailed):
        return code_pb2.FAILED_PRECONDITION, [
            _error_info(error.reason, error.domain, error.metadata)
        ]
    if isinstance(error, errors.Unauthenticated):
        return code_pb2.UNAUTHENTICATED, [_error_info(error.reason, error.domain)]
    if isinstance(error, errors.Overloaded | errors.Conflict):
        code = (
            code_pb2.RESOURCE_EXHAUSTED
            if isinstance(error, errors.Overloaded)
            else code_pb2.ABORTED
        )
        details = [_retry_info(error.retry_after_s)]
        if error.reason:
            details.append(_error_info(error.reason, error.domain))
        return code, details
    if isinstance(error, errors.DependencyUnavailable):
        return code_pb2.UNAVAILABLE, [
            _error_info("DEPENDENCY_UNAVAILABLE", "shopmesh", {"dependency": error.dependency})
        ]
    return code_pb2.INTERNAL, []


# Refusals repeat (a flash sale answers SOLD_OUT for one SKU and generation all day): their
# statuses are built once. A status is immutable, so sharing one is safe.
_REFUSALS: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], grpc.Status] = {}
_REFUSALS_MAX = 4096


def to_grpc_status(error: errors.ShopError) -> grpc.Status:
    """Build the status (code, message, `grpc-status-details-bin`) for a domain error."""
    if type(error) is not errors.PreconditionFailed:
        return _build(error)
    key = (error.reason, error.domain, error.message, tuple(sorted(error.metadata.items())))
    status = _REFUSALS.get(key)
    if status is None:
        if len(_REFUSALS) >= _REFUSALS_MAX:
            _REFUSALS.clear()
        status = _REFUSALS[key] = _build(error)
    return status


def _build(error: errors.ShopError) -> grpc.Status:
    code, details = _details(error)
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code, message=error.message, details=details)
    )
    return status


# --- the other direction: a peer's status back into the domain error it was made from --------

_DETAIL_KINDS = (
    error_details_pb2.BadRequest,
    error_details_pb2.ErrorInfo,
    error_details_pb2.ResourceInfo,
    error_details_pb2.RetryInfo,
)


def decode_details(error: grpc.aio.AioRpcError) -> list[object]:
    """The google.rpc details carried in a failed call's `grpc-status-details-bin`."""
    status = rpc_status.from_call(error)
    if status is None:
        return []
    decoded: list[object] = []
    for detail in status.details:
        for kind in _DETAIL_KINDS:
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                decoded.append(message)
    return decoded


def _first(details: list[object], kind: type[_Detail]) -> _Detail:
    return next((detail for detail in details if isinstance(detail, kind)), kind())


def from_rpc_error(error: grpc.aio.AioRpcError, dependency: str) -> errors.ShopError:
    """The domain error a peer's status stands for, details included, so this service's own
    interceptor re-encodes it faithfully; anything else is the dependency being unavailable."""
    code, text, details = error.code(), error.details() or "", decode_details(error)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        info = _first(details, error_details_pb2.ErrorInfo)
        if not info.reason:
            return errors.DependencyUnavailable(dependency, f"{dependency} refused: {text}")
        return errors.PreconditionFailed(info.reason, info.domain, text, dict(info.metadata))
    if code == grpc.StatusCode.NOT_FOUND:
        resource = _first(details, error_details_pb2.ResourceInfo)
        return errors.NotFound(resource.resource_type, resource.resource_name, text)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        bad = _first(details, error_details_pb2.BadRequest)
        violations = [errors.FieldViolation(v.field, v.description) for v in bad.field_violations]
        info = _first(details, error_details_pb2.ErrorInfo)
        return errors.InvalidArgument(
            violations, reason=info.reason, domain=info.domain, message=text
        )
    if code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED):
        delay = _first(details, error_details_pb2.RetryInfo).retry_delay
        retry_after = delay.seconds + delay.nanos / 1e9 or 1.0
        info = _first(details, error_details_pb2.ErrorInfo)
        kind = errors.Conflict if code == grpc.StatusCode.ABORTED else errors.Overloaded
        return kind(text, retry_after, info.reason, info.domain)
    return errors.DependencyUnavailable(dependency, f"{dependency}: {code.name} {text}".strip())
