"""Starting and stopping the server processes a benchmark measures."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence

from mesh.ports import free_port as free_port  # re-exported for the benches


def wait_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} within {timeout_s} s")


@contextlib.contextmanager
def running(
    args: Sequence[str],
    port: int | None,
    env: Mapping[str, str] | None = None,
    log: pathlib.Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a process for the duration of a `with` block (SIGTERM, then SIGKILL); with a port,
    once it listens there, without one (a worker such as the order writer) once it is up."""
    out = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        list(args), env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
    )
    try:
        if port is not None:
            wait_port(port, process)
        else:
            time.sleep(1.0)
            if process.poll() is not None:
                raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def python(*module_args: str) -> list[str]:
    return [sys.executable, "-m", *module_args]


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def forget_keys(redis_url: str, prefix: str) -> int:
    """Delete the Redis keys a run created (every key it made starts with `prefix`)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        return len(keys)
    finally:
        client.close()
