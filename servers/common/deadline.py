"""The caller's deadline, carried from an incoming RPC to every call it makes downstream.

The server interceptor records the absolute deadline of the call being served; clients of peer
services pass `remaining()` as their `timeout`, so a downstream call never outlives its caller
and gRPC sends the shrinking budget on in `grpc-timeout`.
"""

from __future__ import annotations

import contextvars
import time

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def set_from_remaining(remaining_s: float | None) -> contextvars.Token[float | None]:
    """Record the deadline of the current call from its remaining time (None: no deadline)."""
    value = None if remaining_s is None else time.monotonic() + remaining_s
    return _deadline.set(value)


def reset(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


def remaining(default_s: float) -> float:
    """Seconds left for a downstream call: the caller's remaining time, capped at `default_s`.

    An expired deadline yields a tiny positive timeout so the downstream call fails with
    DEADLINE_EXCEEDED at once instead of being sent without a deadline.
    """
    deadline = _deadline.get()
    if deadline is None:
        return default_s
    return max(0.001, min(default_s, deadline - time.monotonic()))


def expired() -> bool:
    """True when the current call's deadline has passed."""
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() >= deadline
