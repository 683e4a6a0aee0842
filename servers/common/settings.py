"""Settings are frozen dataclasses built once in a service's `__main__` from the environment.

`EnvReader` is the only code that reads environment variables; it names the variable in every
error so a misconfiguration is a one-line message, not a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class EnvReader:
    """Typed access to a mapping of environment variables."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, default).strip() or default

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not an integer") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name}={value} must be >= {minimum}")
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name}={value} must be >= {minimum}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in {"1", "true", "yes", "on"}:
            return True
        if raw in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name}={raw!r} is not a boolean (use true/false)")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What every shopmesh server process needs."""

    service: str
    version: str = "v1"
    host: str = "127.0.0.1"
    port: int = 0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    otlp_endpoint: str = ""
    grace_s: float = 5.0
    reuse_port: bool = False
    max_message_bytes: int = 1 << 20
    health_interval_s: float = 2.0
    max_pending_rpcs: int = 20_000

    @classmethod
    def from_env(cls, service: str, env: EnvReader) -> ServerSettings:
        return cls(
            service=service,
            version=env.text("SHOPMESH_VERSION", "v1"),
            host=env.text("SHOPMESH_HOST", "127.0.0.1"),
            port=env.integer("SHOPMESH_PORT", 0, minimum=0),
            metrics_host=env.text("SHOPMESH_METRICS_HOST", "127.0.0.1"),
            metrics_port=env.integer("SHOPMESH_METRICS_PORT", 0, minimum=-1),
            redis_url=env.text("REDIS_URL", "redis://127.0.0.1:6379/0"),
            log_level=env.text("SHOPMESH_LOG_LEVEL", "INFO"),
            otlp_endpoint=env.text("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            grace_s=env.number("SHOPMESH_GRACE_S", 5.0, minimum=0),
            reuse_port=env.flag("SHOPMESH_REUSE_PORT", False),
            max_message_bytes=env.integer("SHOPMESH_MAX_MESSAGE_BYTES", 1 << 20, minimum=1024),
            health_interval_s=env.number("SHOPMESH_HEALTH_INTERVAL_S", 2.0, minimum=0.05),
            max_pending_rpcs=env.integer("SHOPMESH_MAX_PENDING_RPCS", 20_000, minimum=100),
        )
