"""`python -m bench <name> [args]` runs bench/<name>.py's `main(argv)`."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench

# building blocks, not benchmarks
_PARTS = {
    "report",
    "loadgen",
    "echo",
    "procs",
    "progress",
    "histogram",
    "schedule",
    "driver",
    "meshrun",
    "baselines",
    "profile",
    "htmlreport",
    "flash_report",
    "readme",
    "mix",
    "order_grpc",
    "__main__",
}


def available() -> list[str]:
    """Benchmark names; a module flash_sale.py is the benchmark `flash-sale`."""
    names = (m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in _PARTS)
    return sorted(name.replace("_", "-") for name in names)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print("usage: python -m bench <name> [args]; benchmarks: " + ", ".join(available()))
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in available():
        print(f"unknown benchmark {name!r}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name.replace('-', '_')}")
    return int(module.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
