"""`python -m bench <name> [args]` runs bench/<name>.py's `main(argv)`."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def available() -> list[str]:
    skip = {"report", "loadgen", "echo", "procs"}
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in skip)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print("usage: python -m bench <name> [args]; benchmarks: " + ", ".join(available()))
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in available():
        print(f"unknown benchmark {name!r}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
