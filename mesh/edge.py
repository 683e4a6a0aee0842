"""The edge Envoy: gRPC by service, gRPC-Web + CORS, JSON transcoding, a local rate limit per
route, the web frontend on `/`, JSON access logs, admin on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mesh import envoy_parts as parts
from mesh import gate, render
from mesh.topology import Topology

Json = dict[str, Any]
ROUTE_NAME = "edge"

_PERCENT_100 = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}


def _filter(name: str, type_url: str, config: Json | None = None) -> Json:
    return {
        "name": name,
        "typed_config": {"@type": f"type.googleapis.com/{type_url}", **(config or {})},
    }


def _cors(topology: Topology) -> Json:
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [
            {"safe_regex": {"regex": ".*"}} if origin == "*" else {"exact": origin}
            for origin in topology.edge.cors_origins
        ],
        "allow_methods": "GET, POST, OPTIONS",
        "allow_headers": (
            "content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization, "
            "connect-protocol-version, connect-timeout-ms, traceparent, " + gate.SKU_HEADER
        ),
        "expose_headers": "grpc-status, grpc-message, grpc-status-details-bin",
        "max_age": "86400",
    }


def _rate_limit(topology: Topology, route: str) -> Json:
    """A token bucket per route; an empty bucket answers RESOURCE_EXHAUSTED (HTTP 429)."""
    edge = topology.edge
    per_s = edge.route_limits.get(route)  # a route's own limit has a one-second bucket
    tokens, fill = (per_s, per_s) if per_s else (edge.rate_limit_tokens, edge.rate_limit_per_s)
    return {
        "envoy.filters.http.local_ratelimit": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3"
            ".LocalRateLimit",
            "stat_prefix": f"edge_{route}",
            "token_bucket": {
                "max_tokens": tokens,
                "tokens_per_fill": fill,
                "fill_interval": "1s",
            },
            "filter_enabled": {**_PERCENT_100, "runtime_key": "edge_rate_limit_enabled"},
            "filter_enforced": {**_PERCENT_100, "runtime_key": "edge_rate_limit_enforced"},
            "rate_limited_as_resource_exhausted": True,
            "response_headers_to_add": [
                {
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    "header": {"key": "retry-after", "value": "1"},
                }
            ],
        }
    }


def edge_routes(topology: Topology, sold_out: Sequence[str] = ()) -> Json:
    """The edge's routes; first those of the gate (mesh.gate) for SKUs sold out right now."""
    routes: list[Json] = gate.shed_routes(sold_out)
    for service in topology.services:
        for route in parts.peer_routes(service):
            route["name"] = f"{service.name}.{route['name']}"
            route["typed_per_filter_config"] = _rate_limit(topology, route["name"])
            routes.append(route)
    # everything that is not an RPC is the web frontend (static files)
    routes.append(
        {"name": "web", "match": {"prefix": "/"}, "route": {"cluster": "web", "timeout": "10s"}}
    )
    vhost = {"typed_per_filter_config": {"envoy.filters.http.cors": _cors(topology)}}
    return render.route_config(ROUTE_NAME, routes, vhost)


def _http_filters(topology: Topology, prefix: str) -> list[Json]:
    ext = "envoy.extensions.filters.http"
    return [
        _filter("envoy.filters.http.cors", f"{ext}.cors.v3.Cors"),
        _filter("envoy.filters.http.grpc_web", f"{ext}.grpc_web.v3.GrpcWeb"),
        _filter(
            "envoy.filters.http.grpc_json_transcoder",
            f"{ext}.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            {
                "proto_descriptor": f"{prefix}/{render.DESCRIPTOR_FILE}",
                "services": [s.full_name for s in topology.services],
                "convert_grpc_status": True,
                "print_options": {"always_print_primitive_fields": True},
            },
        ),
        _filter(
            "envoy.filters.http.local_ratelimit",
            f"{ext}.local_ratelimit.v3.LocalRateLimit",
            {"stat_prefix": "edge_rate_limit"},
        ),
        parts.router_filter(),
    ]


def _web_cluster(port: int) -> Json:
    return {
        "name": "web",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "web", **parts.endpoints([port])},
    }


def edge_unit(topology: Topology, prefix: str, sold_out: Sequence[str] = ()) -> render.EnvoyUnit:
    hcm = {
        "rds": render.rds_source(prefix, "edge", ROUTE_NAME),
        "http_filters": _http_filters(topology, prefix),
        "access_log": parts.access_log(),  # the edge logs every request it is sent
        # outside callers are external: Envoy strips their x-envoy-* control headers
        "use_remote_address": True,
        # only a never-used documentation range is "internal", so even loopback callers count
        # as outside (an empty list would fall back to RFC 1918 + loopback)
        "internal_address_config": {
            "cidr_ranges": [{"address_prefix": "192.0.2.1", "prefix_len": 32}]
        },
        "http2_protocol_options": {"max_concurrent_streams": 1024},
    }
    listener = render.listener("edge", topology.edge.port, hcm)
    clusters = [
        *render.peer_clusters(topology, [s.name for s in topology.services]),
        _web_cluster(topology.edge.web),
    ]
    bootstrap = render.bootstrap("edge", "edge", topology.edge.admin, [listener], clusters)
    return render.EnvoyUnit(
        "edge", topology.edge.admin, bootstrap, {ROUTE_NAME: edge_routes(topology, sold_out)}
    )
