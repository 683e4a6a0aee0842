"""README's figures table, rebuilt from the newest result of each benchmark in bench/results/.

Only the text between `<!-- bench:start -->` and `<!-- bench:end -->` is replaced; without those
markers README is left alone and the table is printed instead.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from bench.report import RESULTS

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
# the figures worth a glance per benchmark (the JSON has them all); others show every key
HEADLINES = {
    "flash-sale": ("buyers", "units", "won", "oversold", "lost", "sale_rps", "max_served_rps",
                   "served_vs_echo", "p99_ms", "send_lag_p99_ms", "ours_vs_h2load",
                   "served_vs_rowlock", "invariants_ok"),
    "curve": ("peak_rps", "max_achieved_rps", "shed", "errors", "p99_ms",
              "littles_vs_in_flight", "reconcile_clean"),
}  # fmt: skip


def latest(results: pathlib.Path = RESULTS) -> list[dict[str, Any]]:
    """The newest result document of each benchmark name (file names sort by time)."""
    newest: dict[str, pathlib.Path] = {}
    for path in sorted(results.glob("*.json")):
        name = path.stem.rsplit("-", 1)[0]
        newest[name] = path
    return [json.loads(newest[name].read_text()) for name in sorted(newest)]


def _figures(name: str, summary: Mapping[str, Any]) -> str:
    # a named variant (`--name flash-sale-at-2000`) shows its benchmark's headline figures
    base = next((k for k in HEADLINES if name == k or name.startswith(f"{k}-")), name)
    keys = [k for k in HEADLINES.get(base, tuple(summary)) if k in summary]
    return ", ".join(f"{k}={summary[k]}" for k in keys)


def table(documents: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| benchmark | figures | measured | machine |", "|---|---|---|---|"]
    for doc in documents:
        machine = doc.get("machine", {})
        where = f"{machine.get('cores')} cores, Python {machine.get('python')}"
        figures = _figures(doc["name"], doc.get("summary", {}))
        lines.append(f"| `{doc['name']}` | {figures} | {doc.get('time', '')} | {where} |")
    lines.append("")
    lines.append(
        "Full results: `bench/results/<name>-<time>.json` and `.html`; `make bench` refreshes."
    )
    return "\n".join(lines)


def refresh(text: str, readme: pathlib.Path = README) -> bool:
    """Put `text` between the markers; False (and README untouched) when they are missing."""
    current = readme.read_text() if readme.exists() else ""
    start, end = current.find(START), current.find(END)
    if start < 0 or end < start:
        return False
    updated = current[: start + len(START)] + "\n" + text.strip() + "\n" + current[end:]
    readme.write_text(updated)
    return True


def main(argv: list[str] | None = None) -> int:
    text = table(latest())
    if refresh(text):
        print(f"README.md figures table refreshed from {RESULTS}")
    else:
        print(f"README.md has no {START} ... {END} markers; the table would be:\n")
        print(text)
    return 0
