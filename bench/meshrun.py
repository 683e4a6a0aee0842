"""The real mesh for a benchmark: `shopmesh up --free-ports` in a run directory of its own,
waited for through its ready file, stopped (and checked stopped) at the end; `shopmesh reconcile`
against its Redis and SQL; and what each of its processes cost."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import yaml

from mesh import launcher, resolved
from mesh.topology import DEFAULT_TOPOLOGY, Topology

_CHECKED = re.compile(r"reconcile: checked (.*)")


@dataclasses.dataclass
class Mesh:
    run_dir: pathlib.Path
    topology: Topology
    env: dict[str, str]
    log: pathlib.Path

    @property
    def redis_url(self) -> str:
        return self.env.get("REDIS_URL") or f"redis://127.0.0.1:{self.topology.redis_port}/0"

    def address(self, via: str, service: str = "order") -> str:
        """edge, sidecar (the service's inbound Envoy) or app (the Python server itself)."""
        if via == "edge":
            return f"127.0.0.1:{self.topology.edge.port}"
        instance = self.topology.service(service).versions[0].instances[0]
        return f"127.0.0.1:{instance.inbound if via == 'sidecar' else instance.app}"

    def pids(self) -> dict[str, int]:
        state = launcher.read_state(self.run_dir) or {"members": []}
        return {m["name"]: int(m["pid"]) for m in state["members"]}

    def reconcile_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "REDIS_URL": self.redis_url}
        if "MYSQL_DSN" not in self.env:
            env.pop("MYSQL_DSN", None)
            env["ORDER_SQLITE_PATH"] = str(self.run_dir.resolve() / "order.db")
        return env


def write_topology(
    folder: pathlib.Path, edge_rate_limit: int | None, place_rate_limit: int | None = None
) -> pathlib.Path:
    """The shipped topology, with the edge's rate limits changed when asked: every route's
    default, and PlaceOrder's own (0 drops it, so PlaceOrder gets the default)."""
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    if edge_rate_limit is not None:
        raw["edge"]["rate_limit_per_s"] = edge_rate_limit
        raw["edge"]["rate_limit_tokens"] = 2 * edge_rate_limit
    if place_rate_limit is not None:
        limits = dict(raw["edge"].get("route_limits") or {})
        limits["order.PlaceOrder"] = place_rate_limit
        raw["edge"]["route_limits"] = {k: v for k, v in limits.items() if v > 0}
    path = folder / "topology.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@contextlib.contextmanager
def running(
    folder: pathlib.Path,
    services: str,
    env: dict[str, str] | None = None,
    edge_rate_limit: int | None = None,
    place_rate_limit: int | None = None,
    timeout_s: float = 120.0,
    attempts: int = 3,
) -> Iterator[Mesh]:
    """The mesh for the duration of a `with` block; no process of it is left afterwards.
    A free port can be taken by someone else between picking and binding it (a busy shared
    machine): that start is stopped and retried on other ports."""
    topology = write_topology(folder, edge_rate_limit, place_rate_limit)
    for attempt in range(1, attempts + 1):
        run_dir = folder / f"run{attempt}"
        try:
            up, mesh = _start(folder, run_dir, services, topology, dict(env or {}), timeout_s)
        except _PortTaken:
            if attempt == attempts:
                raise RuntimeError(f"shopmesh up lost a free port {attempts} times") from None
            continue
        try:
            yield mesh
        finally:
            _stop(up, run_dir)
        return


class _PortTaken(RuntimeError):
    pass


Started = tuple[subprocess.Popen[bytes], Mesh]


def _start(
    folder: pathlib.Path,
    run_dir: pathlib.Path,
    services: str,
    topology: pathlib.Path,
    extra: dict[str, str],
    timeout_s: float,
) -> Started:
    ready, log = folder / f"{run_dir.name}.ready", folder / f"{run_dir.name}.log"
    child_env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "MYSQL_DSN"}}
    args = [sys.executable, "-m", "mesh.cli", "up", "--run-dir", str(run_dir), "--free-ports"]
    args += ["--services", services, "--topology", str(topology), "--ready-file", str(ready)]
    with log.open("wb") as out:
        up = subprocess.Popen(
            args, env={**child_env, **extra}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        launcher.wait_ready_file(ready, up, log, timeout_s)
        return up, Mesh(run_dir, resolved.running(run_dir), extra, log)
    except BaseException as exc:
        _stop(up, run_dir)
        if "already in use" in str(exc):
            raise _PortTaken(str(exc)) from None
        raise


def _stop(up: subprocess.Popen[bytes], run_dir: pathlib.Path) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
    launcher.down(run_dir, timeout_s=5)


@dataclasses.dataclass
class Reconciled:
    code: int
    text: str
    checked: dict[str, int]

    @property
    def clean(self) -> bool:
        return self.code == 0

    @property
    def lagging(self) -> bool:
        return "not in SQL yet" in self.text


def reconcile(mesh: Mesh, settle_timeout_s: float = 30.0) -> Reconciled:
    """`shopmesh reconcile --settle-s 0`, repeated while the writer still drains the backlog."""
    deadline = time.monotonic() + settle_timeout_s
    while True:
        done = subprocess.run(
            [sys.executable, "-m", "mesh.cli", "reconcile", "--settle-s", "0"],
            env=mesh.reconcile_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        found = Reconciled(done.returncode, done.stdout + done.stderr, parse_checked(done.stdout))
        if not found.lagging or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def parse_checked(text: str) -> dict[str, int]:
    """`reconcile: checked backlog=0, hot_orders=50, ...` -> {"backlog": 0, ...}."""
    found = _CHECKED.search(text)
    if not found:
        return {}
    pairs = (item.split("=", 1) for item in found.group(1).split(", ") if "=" in item)
    return {key.strip(): int(value) for key, value in pairs}
