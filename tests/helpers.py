"""Small helpers for asserting on gRPC errors and their google.rpc details."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


def status_details(error: grpc.aio.AioRpcError) -> list[Any]:
    """Decode the google.rpc details that travel in `grpc-status-details-bin`."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            decoded = []
            for detail in status.details:
                for kind in (
                    error_details_pb2.BadRequest,
                    error_details_pb2.ErrorInfo,
                    error_details_pb2.ResourceInfo,
                    error_details_pb2.RetryInfo,
                ):
                    if detail.Is(kind.DESCRIPTOR):
                        message = kind()
                        detail.Unpack(message)
                        decoded.append(message)
            return decoded
    return []


def error_reason(error: grpc.aio.AioRpcError) -> str:
    for detail in status_details(error):
        if isinstance(detail, error_details_pb2.ErrorInfo):
            return str(detail.reason)
    return ""


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    for detail in status_details(error):
        if isinstance(detail, error_details_pb2.BadRequest):
            return [v.field for v in detail.field_violations]
    return []


__all__ = ["error_reason", "rpc_status", "status_details", "violated_fields"]
