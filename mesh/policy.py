"""Per-RPC policy read from the generated descriptors: which ambiguous failures may be retried.

A method whose proto declares `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT may run twice
safely, so it is retried on failures that might have reached the app (`unavailable`, `reset`, ...).
Every other method is retried only on failures that prove the request never left Envoy
(`connect-failure`, `refused-stream`): a `PlaceOrder` that may have run is never replayed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from google.protobuf import descriptor, descriptor_pb2

from mesh.topology import Service

SAFE_RETRY_ON = ("unavailable", "cancelled", "reset", "connect-failure", "refused-stream")
UNSAFE_RETRY_ON = ("connect-failure", "refused-stream")


@dataclass(frozen=True, slots=True)
class MethodPolicy:
    service: str  # full gRPC service name, e.g. shop.order.v1.OrderService
    method: str
    idempotent: bool
    streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"

    def retry_on(self, per_try_timeout: bool) -> tuple[str, ...]:
        """Envoy `retry_on` conditions; deadline-exceeded only when a per-try timeout bounds
        each attempt (otherwise a retry after the overall deadline is pointless)."""
        if not self.idempotent:
            return UNSAFE_RETRY_ON
        if per_try_timeout and not self.streaming:
            return (*SAFE_RETRY_ON, "deadline-exceeded")
        return SAFE_RETRY_ON


def service_descriptor(service: Service) -> descriptor.ServiceDescriptor:
    module = importlib.import_module(service.proto_module)
    file_descriptor: descriptor.FileDescriptor = module.DESCRIPTOR
    return file_descriptor.services_by_name[service.grpc_service]


def method_policies(service: Service) -> list[MethodPolicy]:
    found = service_descriptor(service)
    safe = {descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS, descriptor_pb2.MethodOptions.IDEMPOTENT}
    return [
        MethodPolicy(
            found.full_name,
            m.name,
            m.GetOptions().idempotency_level in safe,
            m.server_streaming or m.client_streaming,
        )
        for m in found.methods
    ]
