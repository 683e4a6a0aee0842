"""A real `shopmesh up` for tests: started in a subprocess on free ports, ready when its ready
file appears, and stopped (no process left) however the test ends."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mesh import launcher

REPO = pathlib.Path(__file__).resolve().parents[1]


def shopmesh(*args: str) -> list[str]:
    return [sys.executable, "-m", "mesh.cli", *args]


def wait_for(
    path: pathlib.Path, process: subprocess.Popen[bytes], log: pathlib.Path, timeout_s: float
) -> None:
    try:
        launcher.wait_ready_file(path, process, log, timeout_s)
    except RuntimeError as exc:
        process.kill()
        process.wait()
        pytest.fail(str(exc))


@contextlib.contextmanager
def shopmesh_up(
    folder: pathlib.Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 180.0,
) -> Iterator[pathlib.Path]:
    """`shopmesh up --free-ports ARGS` with embedded Redis and SQLite (like a first `make up`);
    yields its run dir (`folder/run`)."""
    run_dir, ready, log_path = folder / "run", folder / "ready", folder / "up.log"
    outer = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "MYSQL_DSN"}}
    command = shopmesh(
        "up", "--run-dir", str(run_dir), "--free-ports", "--ready-file", str(ready), *args
    )
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            command, cwd=REPO, env={**outer, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for(ready, up, log_path, timeout_s)
        yield run_dir
    finally:
        launcher.down(run_dir, timeout_s=20)
        if up.poll() is None:
            up.kill()
        up.wait(30)
