"""The figures every flash-sale report sits next to, measured in the same run: the bare grpc.aio
echo limit (our generator and h2load), h2load against our generator on one unary RPC, and the
synchronous MariaDB row-lock strategy of the order benchmark."""

from __future__ import annotations

import pathlib
import re
import shutil
import struct
import subprocess
from typing import Any

from bench import loadgen, procs
from bench.echo import METHOD as ECHO_METHOD

_RPS = re.compile(r"finished in .*?, ([\d.]+) req/s")
_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def grpc_frame(body: bytes) -> bytes:
    """A gRPC length-prefixed message: uncompressed flag, big-endian length, the bytes."""
    return struct.pack(">BI", 0, len(body)) + body


def h2load(
    address: str, path: str, body: bytes, seconds: float, in_flight: int, folder: pathlib.Path
) -> dict[str, Any] | None:
    """h2load posting one framed gRPC request over and over (None when h2load is missing)."""
    binary = shutil.which("h2load")
    if binary is None:
        return None
    payload = folder / f"h2load-{abs(hash((path, body)))}.bin"
    payload.write_bytes(grpc_frame(body))
    args = [binary, "-D", str(max(1, round(seconds))), "--warm-up-time", "1", "-c", "1",
            "-m", str(in_flight), "-d", str(payload), "-H", "content-type: application/grpc",
            "-H", "te: trailers", f"http://{address}{path}"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False)
    rps = _RPS.search(done.stdout)
    if rps is None:
        return {"rps": 0.0, "error": (done.stdout + done.stderr)[-500:]}
    status = _STATUS.search(done.stdout)
    http_5xx = int(status.group(4)) if status else 0
    return {"rps": float(rps.group(1)), "http_5xx": http_5xx}


def echo_limit(
    body: bytes, requests: str, seconds: float, in_flight: int, folder: pathlib.Path
) -> dict[str, Any]:
    """The bare grpc.aio echo server, from our generator (closed loop) and from h2load."""
    port = procs.free_port()
    with procs.running(procs.python("bench.echo", str(port)), port):
        ours = loadgen.run(
            loadgen.LoadSpec(f"127.0.0.1:{port}", ECHO_METHOD, requests, in_flight, seconds)
        )
        h2 = h2load(f"127.0.0.1:{port}", ECHO_METHOD, body, seconds, in_flight, folder)
    return {"ours": ours, "h2load": h2}


def agreement(ours_rps: float, h2load_rps: float | None) -> float:
    """ours / h2load (0 when h2load did not run): 0.9-1.1 means the tools agree within 10 %."""
    return ours_rps / h2load_rps if h2load_rps else 0.0


async def _rowlock(dsn: str, buyers: int, units: int) -> dict[str, Any]:
    from bench import order

    name, admin, db = await order._fresh_db(dsn)
    try:
        return await order._rowlock(db, buyers, units)
    finally:
        await db.close()
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


def rowlock(dsn: str | None, buyers: int, units: int) -> dict[str, Any] | None:
    """The same race as one MariaDB row-lock transaction per buyer, 64 in flight (None without
    MariaDB): wins/s is what a plain `UPDATE ... WHERE qty >= 1` design delivers."""
    if not dsn or not dsn.startswith("mysql"):
        return None
    import uvloop

    found = uvloop.run(_rowlock(dsn, buyers, units))
    found["buyers_per_s"] = buyers / found["seconds"]
    return found
