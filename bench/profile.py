"""Where the CPU went: CPU per request of every process of the mesh, and a py-spy sample of the
Python process that spent the most (the slowest hop), summarised as its hottest functions."""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from bench import procs


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    found = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError, IndexError, ValueError):
            found[name] = procs.cpu_seconds(pid)
    return found


def cpu_per_request(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> list[dict[str, Any]]:
    """Each process's CPU over the run, in µs per request answered, busiest first."""
    rows = []
    for name, end in after.items():
        used = end - before.get(name, end)
        rows.append({"process": name, "cpu_s": round(used, 3),
                     "us_per_request": round(used / max(requests, 1) * 1e6, 1)})  # fmt: skip
    return sorted(rows, key=lambda r: -r["cpu_s"])


def slowest_python(rows: list[dict[str, Any]]) -> str | None:
    """The busiest process that py-spy can read (an app or the writer, not an Envoy or Redis)."""
    for row in rows:
        if row["process"].endswith((".app", ".writer")):
            return str(row["process"])
    return None


def py_spy() -> str | None:
    beside = pathlib.Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def sampling(
    pid: int, seconds: float, out: pathlib.Path
) -> Iterator[subprocess.Popen[bytes] | None]:
    """py-spy recording `pid` for at most `seconds` (collapsed stacks into `out`), if available."""
    binary = py_spy()
    if binary is None:
        yield None
        return
    args = [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
            "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
    log = out.with_suffix(".log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        try:
            process.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def hottest(collapsed: pathlib.Path, top: int = 12) -> dict[str, Any]:
    """From py-spy's collapsed stacks: the functions with the most samples on top of the stack
    (self) and anywhere in it (total), as shares of all samples."""
    if not collapsed.exists():
        return {"samples": 0, "self": [], "total": [], "project": []}
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_short(f) for f in stack.split(";")]
        # the event loop's own C code and grpc's C-core threads show as these two frames
        own["(event loop / C code)" if frames[-1].startswith(_OPAQUE) else frames[-1]] += n
        for frame in set(frames):
            total[frame] += n

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": f, "share": round(n / samples, 3)} for f, n in counter.most_common(top)
        ]

    if not samples:
        return {"samples": 0, "self": [], "total": [], "project": []}
    project = Counter({f: n for f, n in total.items() if _is_project(f)})
    return {"samples": samples, "self": share(own), "total": share(total),
            "project": share(project)}  # fmt: skip


_PROJECT = ("common/", "order/", "inventory/", "cart/", "payment/")


def _is_project(frame: str) -> bool:
    """A frame of shopmesh's own code, below the process entry point."""
    where = frame.rpartition(" (")[2]
    return where.startswith(_PROJECT) and "__main__" not in where and "server.py" not in where


_OPAQUE = ("Runner.run ", "Thread.run ", "run (uvloop")


def _short(frame: str) -> str:
    """`handle (servers/order/desk.py:91)` -> `handle (order/desk.py)`: enough to find it."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = pathlib.PurePath(path).parts[-2:]
    return f"{name} ({'/'.join(parts)})" if parts else name
