"""The one server interceptor: deadline capture, trace ids, metrics and errors -> statuses.

Every handler is wrapped once (per method, cached), so the per-call cost is a few attribute
lookups. Domain errors become statuses with google.rpc details; errors of known dependency
clients (Redis, SQL) become UNAVAILABLE; anything else is logged with its traceback and answered
INTERNAL with a generic message, never the exception text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc

from servers.common import deadline, errors
from servers.common.logs import current_trace_id, trace_id_from_metadata
from servers.common.metrics import Metrics
from servers.common.status import to_grpc_status

_log = logging.getLogger("shopmesh.rpc")


class _Internal(errors.ShopError):
    """An unexpected failure, answered INTERNAL without its details."""


Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Streaming = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


class ServerPipeline(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every unary-unary and unary-stream handler of a server."""

    def __init__(
        self,
        metrics: Metrics,
        dependency_errors: Mapping[type[BaseException], str] | None = None,
    ) -> None:
        self._metrics = metrics
        self._dependency_errors = tuple((dependency_errors or {}).items())
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        method: str = details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            wrapped = cached[1]
        else:
            wrapped = self._wrap(method, handler)
            self._wrapped[method] = (handler, wrapped)
        current_trace_id.set(trace_id_from_metadata(details.invocation_metadata))
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        short = method.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(short, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(short, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client-streaming RPCs are not used by shopmesh

    def _unary(self, method: str, behavior: Unary) -> Unary:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            token = deadline.set_from_remaining(context.time_remaining())
            code = "OK"
            try:
                return await behavior(request, context)
            except BaseException as exc:
                code, status = self._classify(exc, context, method)
                if status is None:
                    raise
                # Refusals are the common case in a flash sale (SOLD_OUT): setting the status
                # and returning skips abort's extra send-and-raise round trip; grpc.aio drops
                # the (absent) response of a call whose code is not OK.
                context.set_trailing_metadata(status.trailing_metadata)
                context.set_details(status.details)
                context.set_code(status.code)
                return None
            finally:
                deadline.reset(token)
                self._metrics.observe_rpc(method, code, time.perf_counter() - started)

        return handle

    def _stream(self, method: str, behavior: Streaming) -> Streaming:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            token = deadline.set_from_remaining(context.time_remaining())
            code = "OK"
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                code, status = self._classify(exc, context, method)
                if status is not None:
                    await context.abort_with_status(status)
                raise
            finally:
                deadline.reset(token)
                self._metrics.observe_rpc(method, code, time.perf_counter() - started)

        return handle

    def _classify(
        self, exc: BaseException, context: grpc.aio.ServicerContext, method: str
    ) -> tuple[str, grpc.Status | None]:
        """Name the code `exc` ends the call with, and the status to abort with (None: re-raise)."""
        if isinstance(exc, asyncio.CancelledError):
            return "CANCELLED", None
        if isinstance(exc, grpc.aio.AbortError):
            code = context.code()
            return (code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"), None
        error = self._domain_error(exc)
        if error is None:
            _log.error("unhandled error in %s", method, exc_info=exc)
            error = _Internal("internal error")
        elif isinstance(error, errors.DependencyUnavailable):
            _log.warning("dependency unavailable in %s: %r", method, exc)
        else:
            _log.debug("%s refused: %s", method, error.message)
        status = to_grpc_status(error)
        return status.code.name, status

    def _domain_error(self, exc: BaseException) -> errors.ShopError | None:
        if isinstance(exc, errors.ShopError):
            return exc
        for error_type, dependency in self._dependency_errors:
            if isinstance(exc, error_type):
                return errors.DependencyUnavailable(dependency)
        return None
