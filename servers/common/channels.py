"""Outgoing gRPC channels to peer services (through the local sidecar in the mesh)."""

from __future__ import annotations

import grpc

from servers.common import tracing
from servers.common.settings import ServerSettings


def open_channel(target: str, settings: ServerSettings) -> grpc.aio.Channel:
    """An insecure channel to `target` with our message limits and, if on, tracing."""
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.enable_retries", 0),  # retries belong to the mesh, which knows what is idempotent
    ]
    interceptors = tracing.client_interceptors(settings.service, settings.otlp_endpoint)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors or None)
