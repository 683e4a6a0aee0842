"""The benchmark commands' pure parts: who buys, how answers are counted, how reports and
README's table are written."""

from __future__ import annotations

import json
import pathlib
import struct
from collections import Counter

import pytest
import yaml

from bench import baselines, curve, flash_sale, htmlreport, meshrun, mix, profile, readme, suite
from bench.flash_report import invariants_hold, outcome_counts


def test_a_share_of_buyers_press_twice() -> None:
    buyers = [flash_sale.buyer_of(i, 0.25) for i in range(flash_sale.request_count(8, 0.25))]
    assert buyers == [0, 1, 2, 3, 0, 4, 5, 6, 7, 4]
    assert flash_sale.request_count(100, 0.0) == 100
    assert [flash_sale.buyer_of(i, 0.0) for i in range(3)] == [0, 1, 2]
    counts = Counter(
        flash_sale.buyer_of(i, 0.05) for i in range(flash_sale.request_count(2000, 0.05))
    )
    assert len(counts) == 2000 and max(counts.values()) == 2


def test_outcomes_are_counted_by_meaning() -> None:
    codes = {
        "OK": 3, "FAILED_PRECONDITION:SOLD_OUT": 5, "FAILED_PRECONDITION:LIMIT_EXCEEDED": 2,
        "RESOURCE_EXHAUSTED": 4, "RESOURCE_EXHAUSTED:BACKLOG_FULL": 1, "UNAVAILABLE": 7,
        "FAILED_PRECONDITION:SALE_NOT_ACTIVE": 1, "UNAVAILABLE:ENVOY_OVERLOADED": 6,
    }  # fmt: skip
    assert outcome_counts(codes) == {
        "won": 3, "sold_out": 5, "limit": 2, "shed": 5, "overflow": 6, "error_UNAVAILABLE": 7,
        "error_FAILED_PRECONDITION:SALE_NOT_ACTIVE": 1,
    }  # fmt: skip


def test_invariants_fail_on_oversell_loss_or_a_dirty_reconcile() -> None:
    clean = {"reconcile_clean": 1, "oversold": 0, "lost": 0}
    assert invariants_hold(clean, 10, 10)
    assert not invariants_hold({**clean, "oversold": 1}, 10, 10)
    assert not invariants_hold({**clean, "lost": 1}, 10, 10)
    assert not invariants_hold({**clean, "reconcile_clean": 0}, 10, 10)
    assert not invariants_hold(clean, 11, 10)


def test_reconcile_counts_are_read_from_its_output() -> None:
    text = "reconcile: checked backlog=0, hot_orders=50, skus=24, sql_orders=50\nreconcile: CLEAN\n"
    assert meshrun.parse_checked(text) == {
        "backlog": 0, "hot_orders": 50, "skus": 24, "sql_orders": 50,
    }  # fmt: skip
    assert meshrun.parse_checked("nothing") == {}
    found = meshrun.Reconciled(0, "  note: 3 order(s) not in SQL yet; backlog 3", {})
    assert found.clean and found.lagging


def test_topology_copy_changes_only_the_edge_rate_limit(tmp_path: pathlib.Path) -> None:
    raw = yaml.safe_load(meshrun.write_topology(tmp_path, 5000).read_text())
    assert raw["edge"]["rate_limit_per_s"] == 5000 and raw["edge"]["rate_limit_tokens"] == 10000
    kept = yaml.safe_load(meshrun.write_topology(tmp_path, None).read_text())
    assert kept["services"] == raw["services"]


def test_mix_draws_each_kind_in_its_share() -> None:
    kinds = Counter(mix.kind_of(i, mix.MIX) for i in range(20_000))
    for kind, share in mix.MIX.items():
        assert kinds[kind] / 20_000 == pytest.approx(share, abs=0.01)
    assert mix.kind_of(7, {"only": 1.0}) == "only"


def test_mixed_requests_carry_their_kind_and_method(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "carts.json"
    tokens.write_text(json.dumps([["u1", "token-1"]]))
    plan = {"nonce": "n", "mix": mix.MIX, "flash_sku": "SKU-X", "tokens": str(tokens)}
    monkeypatch.setenv("BENCH_MIX", json.dumps(plan))
    mix._plan.cache_clear()
    try:
        seen = {mix.request(i)[0]: mix.request(i)[1] for i in range(200)}
    finally:
        mix._plan.cache_clear()
    assert seen["flash"] == mix.PLACE
    assert seen["checkout"].endswith("/Checkout") and seen["cart"].endswith("/AddItem")
    assert seen["browse"].startswith("/shop.inventory.v1.InventoryService/")


def test_the_ramps_knee_is_the_last_rate_still_served() -> None:
    rows = [
        {"offered_rps": 100, "achieved_rps": 100, "p99_ms": 5},
        {"offered_rps": 200, "achieved_rps": 195, "p99_ms": 20},
        {"offered_rps": 300, "achieved_rps": 250, "p99_ms": 30},
        {"offered_rps": 400, "achieved_rps": 400, "p99_ms": 10},
        {"offered_rps": 0, "achieved_rps": 50, "p99_ms": 0},
    ]
    assert curve.find_peak(rows) == 200
    assert curve.find_peak(rows, max_p99_ms=10) == 100
    assert curve.by_kind({"a/OK": 2, "a/UNAVAILABLE": 1, "OK": 4}) == {
        "-": {"OK": 4}, "a": {"OK": 2, "UNAVAILABLE": 1},
    }  # fmt: skip


def test_grpc_frames_and_tool_agreement() -> None:
    assert baselines.grpc_frame(b"abc") == struct.pack(">BI", 0, 3) + b"abc"
    assert baselines.agreement(95.0, 100.0) == pytest.approx(0.95)
    assert baselines.agreement(95.0, None) == 0.0
    assert baselines.rowlock(None, 10, 1) is None


def test_cpu_per_request_and_the_slowest_python_hop() -> None:
    rows = profile.cpu_per_request(
        {"edge.envoy": 1.0, "order-v1-0.app": 2.0}, {"edge.envoy": 3.0, "order-v1-0.app": 3.0}, 1000
    )
    assert rows[0] == {"process": "edge.envoy", "cpu_s": 2.0, "us_per_request": 2000.0}
    assert profile.slowest_python(rows) == "order-v1-0.app"
    assert profile.slowest_python(rows[:1]) is None


def test_collapsed_stacks_summarise_into_hot_functions(tmp_path: pathlib.Path) -> None:
    stacks = tmp_path / "order.txt"
    stacks.write_text(
        "<module> (servers/order/__main__.py:1);Runner.run (asyncio/runners.py:118) 6\n"
        "<module> (servers/order/__main__.py:1);place (servers/order/desk.py:90);"
        "claim_of (servers/order/store.py:40) 4\n"
        "garbage\n"
    )
    found = profile.hottest(stacks)
    assert found["samples"] == 10
    assert found["self"][0] == {"function": "(event loop / C code)", "share": 0.6}
    assert {"function": "place (order/desk.py)", "share": 0.4} in found["project"]
    assert profile.hottest(tmp_path / "missing.txt")["samples"] == 0


def _document(extra: dict[str, object]) -> dict[str, object]:
    return {
        "name": "demo", "time": "20260101T000000Z", "machine": {"cores": 2, "python": "3.11"},
        "rows": [{"case": "a", "rps": 10.0}, {"case": "b", "rps": 2000.0}],
        "summary": {"rps": 10.0, "won": 3}, "extra": extra,
    }  # fmt: skip


def test_html_reports_embed_the_plot_and_the_tables(tmp_path: pathlib.Path) -> None:
    timeline = [
        {"t_s": float(t), "offered_rps": 10.0, "achieved_rps": 9.0, "p50_ms": 1.0, "p90_ms": 2.0,
         "p99_ms": 3.0, "p999_ms": 4.0, "in_flight": 0.5, "littles_law": 0.45}
        for t in range(3)
    ]  # fmt: skip
    extra = {"timeline": timeline, "outcomes": {"OK": 9}, "cpu": [{"process": "x", "cpu_s": 1.0}]}
    page = htmlreport.write(_document(extra), tmp_path / "demo.json")
    text = page.read_text()
    assert "<table>" in text and "cpu" in text
    if htmlreport._pyplot() is not None:
        assert "data:image/png;base64," in text
        assert (tmp_path / "demo.png").read_bytes().startswith(b"\x89PNG")
    plain = htmlreport.write(_document({"note": "x"}), tmp_path / "plain.json")
    assert "rps" in plain.read_text()


def test_readme_table_replaces_only_the_text_between_markers(tmp_path: pathlib.Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for stamp, won in (("20260101T000000Z", 1), ("20260102T000000Z", 2)):
        doc = _document({}) | {"name": "flash-sale", "time": stamp, "summary": {"won": won}}
        (results / f"flash-sale-{stamp}.json").write_text(json.dumps(doc))
    documents = readme.latest(results)
    assert [d["summary"]["won"] for d in documents] == [2]
    text = readme.table(documents)
    assert "| `flash-sale` | won=2 |" in text
    page = tmp_path / "README.md"
    page.write_text(f"top\n{readme.START}\nold\n{readme.END}\nbottom\n")
    assert readme.refresh(text, page)
    updated = page.read_text()
    assert updated.startswith("top\n") and updated.endswith(f"{readme.END}\nbottom\n")
    assert "old" not in updated and "won=2" in updated
    bare = tmp_path / "BARE.md"
    bare.write_text("no markers\n")
    assert not readme.refresh(text, bare) and bare.read_text() == "no markers\n"


def test_the_suite_runs_every_service_bench_then_the_flash_sale() -> None:
    found = suite.steps(["cart", "curve", "flash-sale", "inventory", "suite"], ["--buyers", "5"])
    assert [name for name, _ in found] == ["cart", "inventory", "flash-sale"]
    assert found[1][1] == suite.QUICK["inventory"]
    assert found[-1][1] == [*suite.LAST["flash-sale"], "--buyers", "5"]


def test_the_probe_sale_keeps_the_main_sales_share_of_winners() -> None:
    args = flash_sale._parser().parse_args([])
    assert flash_sale.probe_units(args) == 76  # 1,000 units for 105,000 requests, at 8,000
    small = flash_sale._parser().parse_args(["--buyers", "10", "--units", "5"])
    assert flash_sale.probe_units(small) == 4000
