"""The generator's live progress line: share done, current rate, winners, refusals, shed
load and errors, redrawn in place on a terminal and printed every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from collections import Counter


class Progress:
    """A one-line progress bar on stderr (redrawn on a terminal, every few seconds otherwise)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.latest: dict[int, dict[str, int]] = {}
        self.tty = sys.stderr.isatty()
        self.last = (time.monotonic(), 0)
        self.printed = 0.0

    def update(self, part: int, counts: dict[str, int]) -> None:
        self.latest[part] = counts
        now = time.monotonic()
        if not self.tty and now - self.printed < 5:
            return
        self.printed = now
        seen: Counter[str] = Counter()
        for each in self.latest.values():
            seen.update(each)
        done = seen.pop("done", 0)
        seen.pop("sent", 0)
        rate = (done - self.last[1]) / max(now - self.last[0], 1e-6)
        self.last = (now, done)
        won = sum(n for k, n in seen.items() if k.rsplit("/", 1)[-1] == "OK")
        shed = sum(n for k, n in seen.items() if "RESOURCE_EXHAUSTED" in k)
        refused = sum(n for k, n in seen.items() if "FAILED_PRECONDITION" in k)
        errors = sum(seen.values()) - won - shed - refused
        share = done / self.total if self.total else 0.0
        bar = "#" * int(share * 30)
        line = (
            f"{self.label} [{bar:<30}] {share:4.0%} {done:,}/{self.total:,} {rate:,.0f}/s "
            f"ok={won:,} refused={refused:,} shed={shed:,} errors={errors:,}"
        )
        print(
            ("\r" + line) if self.tty else line,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.tty and self.latest:
            print(file=sys.stderr, flush=True)
