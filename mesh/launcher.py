"""The local launcher: starts processes in order, waits for each to be healthy, logs each to the
run directory, and stops them all in reverse order (SIGTERM, then SIGKILL after a grace)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import admin
from mesh.plan import Step

STATE_FILE = "mesh-state.json"


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log: pathlib.Path


@dataclass
class ProcessGroup:
    run_dir: pathlib.Path
    members: list[Managed] = field(default_factory=list)

    def spawn(self, name: str, args: Sequence[str], env: Mapping[str, str]) -> Managed:
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(args),
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop children in order
            )
        member = Managed(name, process, log)
        self.members.append(member)
        return member

    def adopt(self, name: str, process: subprocess.Popen[bytes], log: pathlib.Path) -> None:
        self.members.append(Managed(name, process, log))

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop every member, newest first; none is left running."""
        for member in reversed(self.members):
            if member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
                try:
                    member.process.wait(grace_s)
                except subprocess.TimeoutExpired:
                    member.process.kill()
                    member.process.wait()
        self.members.clear()

    def first_dead(self) -> Managed | None:
        return next((m for m in self.members if m.process.poll() is not None), None)


def wait_healthy(address: str, member: Managed, timeout_s: float = 30.0) -> None:
    """Poll grpc.health.v1 at `address` until SERVING; fail fast if the process died."""
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if member.process.poll() is not None:
                tail = member.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{member.name} exited during start-up; last log lines:\n{tail}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{member.name} at {address} was not healthy within {timeout_s:.0f} s")


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def start_step(group: ProcessGroup, step: Step) -> Managed:
    """Start one planned process and wait until it is usable."""
    member = group.spawn(step.name, step.argv, step.env)
    if step.grpc_health:
        wait_healthy(step.grpc_health, member)
    elif step.admin:
        try:
            admin.wait_ready(step.admin, member.process)
        except RuntimeError as exc:
            tail = member.log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{step.name}: {exc}; last log lines:\n{tail}") from None
    else:
        time.sleep(0.5)  # no health endpoint: make sure it did not die at once
        if member.process.poll() is not None:
            tail = member.log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{step.name} exited during start-up; last log lines:\n{tail}")
    return member


def write_state(run_dir: pathlib.Path, group: ProcessGroup) -> None:
    """Who is running, for `shopmesh down` / `status` from another terminal."""
    state = {
        "pid": os.getpid(),
        "members": [{"name": m.name, "pid": m.process.pid} for m in group.members],
    }
    (run_dir / STATE_FILE).write_text(json.dumps(state, indent=2))


def read_state(run_dir: pathlib.Path) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust kill(0)
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_ready_file(
    ready: pathlib.Path, up: subprocess.Popen[bytes], log: pathlib.Path, timeout_s: float
) -> None:
    """Wait until a `shopmesh up --ready-file` process writes its ready file; RuntimeError with
    the tail of its log when it exits first or `timeout_s` passes (the caller stops it)."""
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if up.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"shopmesh up did not get ready:\n{tail}")
        time.sleep(0.1)


def down(run_dir: pathlib.Path, timeout_s: float = 30.0) -> list[str]:
    """Ask the running `shopmesh up` to stop (it stops its children in reverse order), then make
    sure none of the processes it recorded is left. Returns what had to be killed."""
    state = read_state(run_dir)
    if state is None:
        return []
    if pid_alive(int(state["pid"])):
        os.kill(int(state["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(int(state["pid"])) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = []
    for member in state["members"]:
        if pid_alive(int(member["pid"])):
            os.kill(int(member["pid"]), signal.SIGKILL)
            killed.append(str(member["name"]))
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    return killed
