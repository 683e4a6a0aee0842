"""The HTML report beside every result JSON: the main plot as a PNG (also written next to the
JSON), embedded as base64, and the result's tables. Plots need matplotlib (`pip install -e
'.[bench]'`); without it the report has the tables only.

A result with a `timeline` (rows of t_s, offered_rps, achieved_rps, p50_ms, p99_ms, ...) gets
latency percentiles over time, offered vs achieved throughput, in-flight vs Little's law and the
outcomes; any other result gets a bar chart of its rows' first numeric column.
"""

from __future__ import annotations

import base64
import html
import io
import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _timeline_figure(
    plt: Any, timeline: Sequence[Mapping[str, Any]], outcomes: Mapping[str, int]
) -> Any:
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    t = [row["t_s"] for row in timeline]
    latency, rate, busy, bars = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms"):
        values = [row.get(key) or float("nan") for row in timeline]  # no answers: no point
        latency.plot(t, values, label=key.removesuffix("_ms"))
    latency.set(title="latency by scheduled send time", xlabel="s", ylabel="ms", yscale="log")
    latency.legend()
    rate.plot(t, [row["offered_rps"] for row in timeline], label="offered")
    rate.plot(t, [row["achieved_rps"] for row in timeline], label="achieved")
    rate.set(title="throughput", xlabel="s", ylabel="requests/s")
    rate.legend()
    busy.plot(t, [row.get("in_flight", 0.0) for row in timeline], label="measured in flight")
    busy.plot(t, [row.get("littles_law", 0.0) for row in timeline], "--", label="λ·W (Little)")
    busy.set(title="concurrency", xlabel="s", ylabel="requests")
    busy.legend()
    names = list(outcomes)
    bars.barh(names, [outcomes[n] for n in names])
    bars.set(title="outcomes", xlabel="requests", xscale="log" if names else "linear")
    figure.tight_layout()
    return figure


def _rows_figure(plt: Any, rows: Sequence[Mapping[str, Any]]) -> Any | None:
    numeric = next(
        (k for row in rows for k, v in row.items() if isinstance(v, int | float) and k != "case"),
        None,
    )
    if numeric is None:
        return None
    figure, axis = plt.subplots(figsize=(10, 0.5 * len(rows) + 1.5))
    labels = [str(row.get("case", i)) for i, row in enumerate(rows)]
    axis.barh(labels, [float(row.get(numeric, 0) or 0) for row in rows])
    axis.set(title=numeric, xlabel=numeric)
    figure.tight_layout()
    return figure


def png(document: Mapping[str, Any]) -> bytes | None:
    plt = _pyplot()
    if plt is None:
        return None
    extra = document.get("extra", {})
    timeline = extra.get("timeline")
    if timeline:
        figure = _timeline_figure(plt, timeline, extra.get("outcomes", {}))
    else:
        figure = _rows_figure(plt, document.get("rows", []))
    if figure is None:
        return None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c, '')))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
    "pre{background:#f6f6f6;padding:1em}"
)


def write(document: Mapping[str, Any], json_path: pathlib.Path) -> pathlib.Path:
    """<name>-<stamp>.html (and .png when matplotlib is there) next to the JSON."""
    picture = png(document)
    parts = [f"<h1>{html.escape(document['name'])} — {html.escape(document['time'])}</h1>"]
    if picture is not None:
        json_path.with_suffix(".png").write_bytes(picture)
        encoded = base64.b64encode(picture).decode()
        parts.append(f'<img alt="main plot" src="data:image/png;base64,{encoded}">')
    else:
        parts.append("<p>(no plots: install matplotlib, `pip install -e '.[bench]'`)</p>")
    parts.append("<h2>Summary</h2>" + _table([document.get("summary", {})]))
    parts.append("<h2>Results</h2>" + _table(document.get("rows", [])))
    extra = document.get("extra", {})
    for key, value in extra.items():
        if key == "timeline":
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            parts.append(f"<h2>{html.escape(key)}</h2>" + _table(value))
        else:
            text = json.dumps(value, indent=2, default=str)
            parts.append(f"<h2>{html.escape(key)}</h2><pre>{html.escape(text)}</pre>")
    parts.append(
        "<h2>Machine</h2><pre>"
        + html.escape(json.dumps(document.get("machine"), indent=2))
        + "</pre>"
    )
    page = f"<!doctype html><meta charset=utf-8><title>{html.escape(document['name'])}</title>"
    page += f"<style>{_STYLE}</style>" + "\n".join(parts)
    path = json_path.with_suffix(".html")
    path.write_text(page)
    return path
