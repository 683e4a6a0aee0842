"""Rendering: the checked-in envoy/ is current and valid for Envoy, the per-RPC policy follows the
protos' idempotency_level, and the Kubernetes + Istio rendering agrees with the Envoy one."""

from __future__ import annotations

import pathlib
import shutil
from dataclasses import replace
from typing import Any

import pytest

from mesh import k8s, render, validate
from mesh.policy import SAFE_RETRY_ON, UNSAFE_RETRY_ON
from mesh.resolved import to_raw
from mesh.topology import Topology, TopologyError, _validate, load, parse

REPO = pathlib.Path(__file__).resolve().parents[2]


def _route(unit: render.EnvoyUnit, route: str, path: str) -> dict[str, Any]:
    routes = unit.routes[route]["virtual_hosts"][0]["routes"]
    return next(r for r in routes if r["match"].get("path") == path)


def test_checked_in_envoy_configs_are_current_and_envoy_accepts_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.chdir(REPO)  # bootstraps use repository-relative paths
    assert validate.check(load(), pathlib.Path("envoy")) == []
    fresh = k8s.write(load(), tmp_path / "k8s")
    for path in fresh:
        assert path.read_text() == (REPO / "envoy" / "k8s" / path.name).read_text()


def test_check_reports_a_stale_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "envoy"
    shutil.copytree(REPO / "envoy", copy)
    stale = copy / "rds" / "order-v1-0" / "outbound-inventory.yaml"
    stale.write_text(stale.read_text().replace("weight: 90", "weight: 80"))
    monkeypatch.chdir(tmp_path)
    problems = validate.check(load(), pathlib.Path("envoy"))
    assert any("outbound-inventory.yaml is stale" in p for p in problems)


def test_retry_policy_follows_idempotency_level(base_topology: Topology) -> None:
    order = next(u for u in render.render(base_topology, "x") if u.name == "payment-v1-0")
    place = _route(order, "outbound-order", "/shop.order.v1.OrderService/PlaceOrder")
    get = _route(order, "outbound-order", "/shop.order.v1.OrderService/GetOrder")
    watch = _route(order, "outbound-order", "/shop.order.v1.OrderService/WatchOrder")
    assert place["route"]["retry_policy"]["retry_on"] == ",".join(UNSAFE_RETRY_ON)
    assert "per_try_timeout" not in place["route"]["retry_policy"]
    assert get["route"]["retry_policy"]["per_try_timeout"] == "1s"
    assert get["route"]["retry_policy"]["retry_on"] == ",".join(
        (*SAFE_RETRY_ON, "deadline-exceeded")
    )
    assert watch["route"]["timeout"] == "0s"  # streams are not cut
    assert "per_try_timeout" not in watch["route"]["retry_policy"]
    assert "deadline-exceeded" not in watch["route"]["retry_policy"]["retry_on"]
    assert get["route"]["max_stream_duration"] == {"grpc_timeout_header_max": "0s"}


def test_topology_round_trips_and_rejects_bad_weights(base_topology: Topology) -> None:
    assert parse(to_raw(base_topology)) == base_topology
    with pytest.raises(TopologyError, match="sum to 100"):
        base_topology.with_weights("inventory", {"v1": 90, "v2": 20})
    with pytest.raises(TopologyError, match="no version"):
        base_topology.with_weights("inventory", {"v3": 100})
    raw = to_raw(base_topology)
    raw["services"]["order"]["calls"] = ["nowhere"]
    with pytest.raises(TopologyError, match="unknown service"):
        parse(raw)


def _by_kind(service_name: str, topology: Topology) -> dict[str, dict[str, Any]]:
    docs = k8s.manifests(topology.service(service_name))
    return {d["kind"]: d for d in docs if d["kind"] in {"VirtualService", "DestinationRule"}}


@pytest.mark.parametrize("name", ["inventory", "order", "cart", "payment"])
def test_istio_rendering_agrees_with_envoy_field_by_field(
    base_topology: Topology, name: str
) -> None:
    edge = next(u for u in render.render(base_topology, "x") if u.name == "edge")
    clusters = {c["name"]: c for c in edge.bootstrap["static_resources"]["clusters"]}
    docs = _by_kind(name, base_topology)
    for http in docs["VirtualService"]["spec"]["http"]:
        envoy = _route(edge, "edge", http["match"][0]["uri"]["exact"])["route"]
        split = {c["name"]: c["weight"] for c in envoy["weighted_clusters"]["clusters"]}
        assert split == {f"{name}-{r['destination']['subset']}": r["weight"] for r in http["route"]}
        assert http["timeout"] == envoy["timeout"]
        assert http["retries"]["attempts"] == envoy["retry_policy"]["num_retries"]
        assert http["retries"]["retryOn"] == envoy["retry_policy"]["retry_on"]
        assert http["retries"].get("perTryTimeout") == envoy["retry_policy"].get("per_try_timeout")
    policy = docs["DestinationRule"]["spec"]["trafficPolicy"]
    for subset in docs["DestinationRule"]["spec"]["subsets"]:
        cluster = clusters[f"{name}-{subset['name']}"]
        limits = cluster["circuit_breakers"]["thresholds"][0]
        assert policy["connectionPool"]["tcp"]["maxConnections"] == limits["max_connections"]
        assert policy["connectionPool"]["http"]["http2MaxRequests"] == limits["max_requests"]
        assert (
            policy["connectionPool"]["http"]["http1MaxPendingRequests"]
            == limits["max_pending_requests"]
        )
        assert policy["connectionPool"]["http"]["maxRetries"] == limits["max_retries"]
        outlier = cluster["outlier_detection"]
        assert policy["outlierDetection"] == {
            "consecutive5xxErrors": outlier["consecutive_5xx"],
            "consecutiveGatewayErrors": outlier["consecutive_gateway_failure"],
            "interval": outlier["interval"],
            "baseEjectionTime": outlier["base_ejection_time"],
            "maxEjectionPercent": outlier["max_ejection_percent"],
        }


def test_a_route_limit_must_name_a_service_method_and_a_positive_rate(
    base_topology: Topology,
) -> None:
    for limits in ({"nosuch.Method": 5}, {"order": 5}, {"order.PlaceOrder": 0}):
        with pytest.raises(TopologyError, match="route limit"):
            _validate(replace(base_topology, edge=replace(base_topology.edge, route_limits=limits)))
