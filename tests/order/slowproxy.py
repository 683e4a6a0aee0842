"""A real gRPC proxy in front of inventory that answers chosen methods late.

It forwards each call at once (so inventory does the work) and holds the reply for `delay_s`,
which is what a slow or overloaded peer looks like to the caller.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, channel: grpc.aio.Channel, slow: set[str], delay_s: float) -> None:
        self._channel = channel
        self._slow = slow
        self._delay = delay_s

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = str(details.method)  # type: ignore[attr-defined]

        async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            call = self._channel.unary_unary(method)
            try:
                reply: bytes = await call(request, timeout=context.time_remaining())
            except grpc.aio.AioRpcError as err:
                await context.abort(err.code(), err.details() or "", err.trailing_metadata())
            if method.rsplit("/", 1)[-1] in self._slow:
                await asyncio.sleep(self._delay)
            return reply

        return grpc.unary_unary_rpc_method_handler(unary)


class SlowProxy:
    def __init__(self, target: str, slow: set[str], delay_s: float) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        self._server.add_generic_rpc_handlers([_Forward(self._channel, slow, delay_s)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> SlowProxy:
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop(0)
        await self._channel.close()


__all__: list[Any] = ["SlowProxy"]
