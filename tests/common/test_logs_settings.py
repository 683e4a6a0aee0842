"""JSON logs with trace ids and sampled debug; settings errors name the variable."""

from __future__ import annotations

import io
import json
import logging

import pytest

from servers.common.logs import (
    DebugSampler,
    configure_logging,
    current_trace_id,
    trace_id_from_metadata,
)
from servers.common.metrics import AlertThresholds, Metrics
from servers.common.settings import EnvReader, ServerSettings, SettingsError


def test_log_lines_are_json_with_the_trace_id() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("unit", "DEBUG", stream=stream)
    token = current_trace_id.set("4bf92f3577b34da6a3ce929d0e0e4736")
    try:
        logging.getLogger("x").warning("hello %s", "there", extra={"sku": "A"})
    finally:
        current_trace_id.reset(token)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["msg"] == "hello there" and entry["level"] == "warning"
    assert entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["sku"] == "A" and entry["service"] == "unit"
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_debug_is_sampled_but_errors_always_pass() -> None:
    sampler = DebugSampler(per_second=10)
    debug = logging.makeLogRecord({"levelno": logging.DEBUG})
    error = logging.makeLogRecord({"levelno": logging.ERROR})
    passed = sum(sampler.filter(debug) for _ in range(1000))
    assert 1 <= passed <= 11
    assert all(sampler.filter(error) for _ in range(1000))


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            (("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),),
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ((("x-request-id", "abc"),), "abc"),
        ((("traceparent", "garbage"),), ""),
        (None, ""),
    ],
)
def test_trace_ids_come_from_traceparent_or_request_id(
    metadata: tuple[tuple[str, str], ...] | None, expected: str
) -> None:
    assert trace_id_from_metadata(metadata) == expected


def test_settings_come_from_env_and_errors_name_the_variable() -> None:
    env = EnvReader(
        {"SHOPMESH_PORT": "50051", "SHOPMESH_REUSE_PORT": "yes", "REDIS_URL": "redis://r:1/0"}
    )
    settings = ServerSettings.from_env("svc", env)
    assert (settings.port, settings.reuse_port, settings.redis_url) == (
        50051,
        True,
        "redis://r:1/0",
    )
    for bad in (
        {"SHOPMESH_PORT": "fifty"},
        {"SHOPMESH_PORT": "-3"},
        {"SHOPMESH_REUSE_PORT": "maybe"},
        {"SHOPMESH_GRACE_S": "x"},
    ):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            ServerSettings.from_env("svc", EnvReader(bad))


def test_runtime_alerts_fire_past_their_thresholds() -> None:
    metrics = Metrics("unit", AlertThresholds(gc_pause_p99_s=0.1, asyncio_tasks=5000, rss_bytes=1))
    assert metrics.sample_runtime() == ["rss"]
    for _ in range(200):
        metrics._recent_pauses.append(0.5)
    assert "gc_pause_p99" in metrics.sample_runtime()
