"""The launcher's process plan and the CLI's delegating subcommands (no processes started)."""

from __future__ import annotations

import pathlib

import pytest

from mesh import cli, plan
from mesh.topology import Topology

REPO = pathlib.Path(__file__).resolve().parents[2]


def _steps(topology: Topology, tmp_path: pathlib.Path) -> dict[str, plan.Step]:
    settings = plan.RunSettings(tmp_path, "redis://127.0.0.1:6390/0")
    return {s.name: s for s in plan.plan(topology, settings, tmp_path / "web")}


def test_apps_dial_their_own_sidecar_and_callees_start_first(
    base_topology: Topology, tmp_path: pathlib.Path
) -> None:
    steps = _steps(base_topology, tmp_path)
    names = list(steps)
    assert names.index("inventory-v2-0.app") < names.index("order-v1-0.envoy")
    assert names.index("order-v1-0.app") < names.index("cart-v1-0.envoy")
    assert names.index("order-v1-0.envoy") < names.index("order-v1-0.app")  # sidecar first
    assert names[-2:] == ["edge.envoy", "edge.gate"]
    inventory_inbound = base_topology.services[0].versions[0].instances[0].inbound
    assert steps["edge.gate"].argv[-1] == f"127.0.0.1:{inventory_inbound}"
    order = steps["order-v1-0.app"].env
    assert order["ORDER_INVENTORY_TARGET"] == "127.0.0.1:16061"
    assert order["ORDER_SQLITE_PATH"] == str(tmp_path.resolve() / "order.db")
    cart = steps["cart-v1-0.app"].env
    assert (cart["CART_INVENTORY_TARGET"], cart["CART_ORDER_TARGET"]) == (
        "127.0.0.1:16071",
        "127.0.0.1:16072",
    )
    assert steps["payment-v1-0.app"].env["PAYMENT_ORDER_TARGET"] == "127.0.0.1:16081"
    assert steps["payment-v1-0.app"].env["PAYMENT_PROVIDER_SECRETS"].startswith("dev=")
    assert steps["inventory-v2-0.app"].env["INVENTORY_SOLD_OUT_TTL_S"] == "0.5"
    assert steps["inventory-v2-0.app"].env["SHOPMESH_VERSION"] == "v2"
    assert steps["inventory-v1-0.app"].grpc_health == "127.0.0.1:50051"
    assert steps["edge.envoy"].admin == base_topology.edge.admin


def test_only_existing_services_are_planned(
    base_topology: Topology, tmp_path: pathlib.Path
) -> None:
    steps = _steps(base_topology.only({"inventory"}), tmp_path)
    assert {n.split("-")[0] for n in steps if n.endswith(".app")} == {"inventory"}
    assert plan.available_services() >= {"inventory"}


def test_bench_delegation_reaches_the_bench_runner(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--help"]) == 0
    assert "mesh" in capsys.readouterr().out


def test_shift_with_a_bad_weight_is_a_clear_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["shift", "inventory", "v1=90", "--run-dir", str(tmp_path)]) == 1
    assert "no running mesh" in capsys.readouterr().err


def test_render_commands_write_envoy_and_k8s_files(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["render", "--out", str(tmp_path / "e"), "--prefix", "envoy"]) == 0
    assert (tmp_path / "e" / "edge.yaml").read_text() == (REPO / "envoy" / "edge.yaml").read_text()
    assert cli.main(["render", "k8s", "--out", str(tmp_path / "k")]) == 0
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [
        "cart.yaml",
        "inventory.yaml",
        "order.yaml",
        "payment.yaml",
    ]
    assert "wrote 4 Kubernetes/Istio manifests" in capsys.readouterr().out


def test_down_and_status_without_a_running_mesh(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["down", "--run-dir", str(tmp_path)]) == 0
    assert "nothing running" in capsys.readouterr().out
    assert cli.main(["status", "--run-dir", str(tmp_path)]) == 1
    assert "start one with `shopmesh up`" in capsys.readouterr().err
