"""Encoding of the domain exception tree as gRPC statuses with google.rpc error details."""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from servers.common import errors


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


def to_grpc_status(error: errors.ShopError) -> grpc.Status:
    """Build the status (code, message, `grpc-status-details-bin`) for a domain error."""
    code, details = _details(error)
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code, message=error.message, details=details)
    )
    return status
