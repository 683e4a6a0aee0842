"""The local launcher: starts processes in order, waits for each to be healthy, logs each to the
run directory, and stops them all in reverse order (SIGTERM, then SIGKILL after a grace)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


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
