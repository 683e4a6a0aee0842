"""`shopmesh up` runs the real mesh (embedded Redis, both inventory versions, sidecars, web server,
edge); `shopmesh down` stops it and leaves no process; busy ports are a clear one-line error."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import replace
from typing import Any

import grpc
import pytest

from mesh import admin, launcher, shift, status
from mesh.resolved import running
from mesh.topology import Topology
from mesh.up import StartError, UpOptions, preflight
from mesh.up import run as up_run
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from tests.meshup import REPO, wait_for
from tests.meshup import shopmesh as _shopmesh
from tests.services import free_port


def _query_through_edge(edge_port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{edge_port}") as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        reply = stub.ListProducts(inventory_pb2.ListProductsRequest(page_size=2), timeout=5)
        assert len(reply.products) == 2
    with urllib.request.urlopen(f"http://127.0.0.1:{edge_port}/v1/products", timeout=5) as r:
        assert json.loads(r.read())["products"]


@pytest.mark.slow
def test_up_serves_through_the_edge_then_down_leaves_no_process(tmp_path: pathlib.Path) -> None:
    run_dir, ready, log_path = tmp_path / "run", tmp_path / "ready", tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "MYSQL_DSN"}}
    args = ["--run-dir", str(run_dir), "--services", "inventory", "--free-ports"]
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            _shopmesh("up", *args, "--ready-file", str(ready)),
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(ready, up, log_path, 90)
        state = launcher.read_state(run_dir)
        assert state is not None
        pids = [int(m["pid"]) for m in state["members"]]
        names = [m["name"] for m in state["members"]]
        assert names[0] == "redis" and names[-2:] == ["edge.envoy", "edge.gate"]
        _query_through_edge(_edge_port(run_dir))
        assert list((run_dir / "redis").rglob("*.aof"))  # append-only file under the run dir
        _shift_and_status(run_dir)
        down = subprocess.run(
            _shopmesh("down", "--run-dir", str(run_dir)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert down.returncode == 0 and "stopped" in down.stdout
        assert "had to kill" not in down.stdout  # up stopped every child itself, in order
        assert up.wait(30) == 0
        assert "stopping everything" in log_path.read_text()
        assert [p for p in pids if launcher.pid_alive(p)] == []
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        launcher.down(run_dir, timeout_s=5)


def _shift_and_status(run_dir: pathlib.Path) -> None:
    def cli(*args: str) -> str:
        done = subprocess.run(
            _shopmesh(*args, "--run-dir", str(run_dir)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    shifted = cli("shift", "inventory", "v1=50", "v2=50")
    assert "inventory: v1=50 v2=50 applied as config version 2 by edge" in shifted
    report = cli("status")
    assert "config version 2" in report
    assert re.search(r"inventory-v2-0 +50% +SERVING", report)
    assert "routes=edge@v2" in report


def _edge_port(run_dir: pathlib.Path) -> int:
    return running(run_dir).edge.port


def test_a_port_in_use_is_a_clear_one_line_error(
    base_topology: Topology, tmp_path: pathlib.Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        topology = base_topology.renumber(free_port)
        topology = replace(topology, edge=replace(topology.edge, port=port))
        with pytest.raises(StartError) as caught:
            preflight(UpOptions(tmp_path, topology, "", ""))
    message = str(caught.value)
    assert message == f"port {port} is already in use (needed for the edge listener)"


@pytest.mark.slow
def test_up_in_process_shift_status_then_sigterm_stops_all(
    base_topology: Topology, tmp_path: pathlib.Path
) -> None:
    topology = base_topology.only({"inventory"}).renumber(free_port)
    run_dir, ready = tmp_path / "run", tmp_path / "ready"
    seen: dict[str, Any] = {}

    def operator() -> None:
        """What a person does in a second terminal while `up` runs in the foreground."""
        deadline = time.monotonic() + 90
        try:
            while not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            state = launcher.read_state(run_dir) or {"members": []}
            seen["pids"] = [int(m["pid"]) for m in state["members"]]
            _query_through_edge(topology.edge.port)
            _, seen["applied"] = shift.apply(topology, run_dir / "envoy", "inventory", {"v2": 100})
            seen["edge_routes"] = admin.route_versions(topology.edge.admin)
            seen["report"] = status.report(topology)
            _query_through_edge(topology.edge.port)  # v2 alone now answers
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # like Ctrl-C / `shopmesh down`

    helper = threading.Thread(target=operator)
    helper.start()
    code = up_run(UpOptions(run_dir, topology, "", ""), ready)
    helper.join()
    assert code == 0
    assert set(seen["applied"]) == {"edge"}
    assert seen["edge_routes"] == {"edge": "2"}
    assert re.search(r"inventory-v1-0 +90% +SERVING", seen["report"])
    assert len(seen["pids"]) == 8  # redis, 2 x (sidecar + app), web server, edge, edge gate
    assert [p for p in seen["pids"] if launcher.pid_alive(p)] == []
    assert signal.getsignal(signal.SIGTERM) is not None
