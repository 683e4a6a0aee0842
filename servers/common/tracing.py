"""OpenTelemetry for gRPC: spans exported by OTLP when an endpoint is configured, else off."""

from __future__ import annotations

from typing import Any


def server_interceptors(service: str, otlp_endpoint: str) -> list[Any]:
    """The OTel server interceptor, or nothing when tracing is off (the default)."""
    if not otlp_endpoint:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(tracer_provider=_provider(service, otlp_endpoint))]


def client_interceptors(service: str, otlp_endpoint: str) -> list[Any]:
    """The OTel client interceptors for outgoing channels, or nothing when tracing is off."""
    if not otlp_endpoint:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors(tracer_provider=_provider(service, otlp_endpoint)))


_providers: dict[tuple[str, str], Any] = {}


def _provider(service: str, endpoint: str) -> Any:
    # One provider (and one exporter thread) per process and endpoint, created on first use.
    key = (service, endpoint)
    if key not in _providers:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
        )
        _providers[key] = provider
    return _providers[key]
