"""One JSON-lines logger per process: errors always kept, debug sampled, trace ids attached."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
from typing import Any, TextIO

# The trace id of the RPC being served; set by the server interceptor from `traceparent` or
# `x-request-id`, read by the formatter, so any log line inside a handler carries it.
current_trace_id: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats records as one JSON object per line, with extra fields kept."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        trace_id = current_trace_id.get()
        if trace_id:
            entry["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class DebugSampler(logging.Filter):
    """Passes every record at INFO and above, and at most `per_second` DEBUG records a second."""

    def __init__(self, per_second: float) -> None:
        super().__init__()
        self._rate = per_second
        self._tokens = per_second
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._rate, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self.dropped += 1
            return False


def configure_logging(
    service: str, level: str = "INFO", debug_per_second: float = 10.0, stream: TextIO | None = None
) -> None:
    """Install the JSON handler on the root logger (replacing earlier handlers of ours)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_shopmesh", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(DebugSampler(debug_per_second))
    handler._shopmesh = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())


def trace_id_from_metadata(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    """Extract a trace id from W3C `traceparent` (its trace-id field) or `x-request-id`."""
    if not metadata:
        return ""
    request_id = ""
    for key, value in metadata:
        if key == "traceparent" and isinstance(value, str):
            parts = value.split("-")
            if len(parts) >= 3 and len(parts[1]) == 32:
                return parts[1]
        elif key == "x-request-id" and isinstance(value, str):
            request_id = value[:64]
    return request_id
