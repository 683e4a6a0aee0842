"""`make bench` / `python -m bench suite`: the standard suite in one go, each benchmark in its
own process with a short setting, then README's figures table refreshed from the results.

Per-service benches found in bench/ run with the quick arguments below (a bench this file does not
know runs with its defaults), then the flash sale through the mesh. Each step has a time limit;
the whole suite is meant to stay under 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from bench import readme

QUICK = {
    "inventory": ["--duration", "3"],
    "order": ["--rows", "5000", "--buyers", "10000", "--units", "2000"],
    "payment": ["--duration", "3"],
    "mesh": ["--duration", "2", "--rounds", "1"],
    "cart": ["--duration", "3"],
}
# the flash sale at its defaults: 100,000 buyers for 1,000 units through the edge, offered at half
# the served maximum a probe finds (about 3-4 minutes on 2 shared cores)
LAST: dict[str, list[str]] = {"flash-sale": []}
NOT_IN_SUITE = {"suite", "curve", "flash-sale"}
STEP_LIMIT_S = {"flash-sale": 480}  # seconds; other steps get DEFAULT_LIMIT_S
DEFAULT_LIMIT_S = 240


def steps(available: list[str], flash_args: list[str]) -> list[tuple[str, list[str]]]:
    found = [(name, QUICK.get(name, [])) for name in available if name not in NOT_IN_SUITE]
    return [*found, ("flash-sale", [*LAST["flash-sale"], *flash_args])]


def _run(name: str, args: list[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    limit = STEP_LIMIT_S.get(name, DEFAULT_LIMIT_S)
    child = subprocess.Popen(
        [sys.executable, "-m", "bench", name, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        out, _ = child.communicate(timeout=limit)
        code = child.returncode
    except subprocess.TimeoutExpired:
        # SIGINT, not SIGKILL: the bench's `finally` blocks stop the mesh it started
        child.send_signal(signal.SIGINT)
        try:
            out, _ = child.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
        code, out = 124, (out or "") + f"\n{name}: stopped after {limit} s\n"
    print(out, end="", flush=True)
    lines = [line for line in out.splitlines() if line.startswith("BENCH ")]
    return code, (lines[-1] if lines else f"BENCH {name} failed=1"), time.monotonic() - started


def main(argv: list[str]) -> int:
    from bench.__main__ import available

    parser = argparse.ArgumentParser(prog="bench suite", description=__doc__)
    parser.add_argument("--flash-args", default="", help="extra flash-sale arguments")
    parser.add_argument(
        "--no-readme", dest="readme", action="store_false", help="print the table, leave README"
    )
    args = parser.parse_args(argv)
    summary: list[tuple[str, int, str, float]] = []
    for name, extra in steps(available(), args.flash_args.split()):
        print(f"\n==> bench {name} {' '.join(extra)}", flush=True)
        code, line, seconds = _run(name, extra)
        summary.append((name, code, line, seconds))
    print("\n==> suite summary")
    for name, code, line, seconds in summary:
        print(f"{name:<12} exit={code} {seconds:5.0f} s  {line}")
    if args.readme:
        readme.main([])
    else:
        print(readme.table(readme.latest()))
    return max((code for _, code, _, _ in summary), default=0)
