"""Pieces of Envoy v3 config as plain dicts: clusters, per-RPC routes, HTTP filters, access logs.

Kept free of file layout so the Istio rendering and the tests can reuse the same numbers.
"""

from __future__ import annotations

from typing import Any

from mesh.policy import MethodPolicy, method_policies
from mesh.topology import Policy, Service

Json = dict[str, Any]

_HTTP2_UPSTREAM = {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}},
    }
}


def seconds(value: float) -> str:
    """Envoy duration text; milliseconds are the finest grain we use."""
    return f"{round(value, 3):g}s"


def endpoints(ports: list[int]) -> Json:
    return {
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}
                        }
                    }
                    for p in ports
                ]
            }
        ]
    }


def cluster_name(service: str, version: str) -> str:
    return f"{service}-{version}"


def local_app_cluster(port: int) -> Json:
    """The sidecar's own app: no health checks or ejection (there is only one), but HTTP/2."""
    return {
        "name": "local-app",
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": _HTTP2_UPSTREAM,
        "load_assignment": {"cluster_name": "local-app", **endpoints([port])},
    }


def peer_cluster(service: Service, version: str, ports: list[int]) -> Json:
    """A version of a peer, reached through its sidecars' inbound ports, with the full policy."""
    policy = service.policy
    name = cluster_name(service.name, version)
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": _HTTP2_UPSTREAM,
        "load_assignment": {"cluster_name": name, **endpoints(ports)},
        "circuit_breakers": {"thresholds": [circuit_breaker(policy)]},
        "outlier_detection": outlier_detection(policy),
        # with the panic threshold at 0 an ejected host stays ejected even when it is the only one
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
        "health_checks": [
            {
                "timeout": "1s",
                "interval": seconds(policy.health_interval_s),
                "no_traffic_interval": seconds(policy.health_interval_s),
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": service.full_name},
            }
        ],
    }


def circuit_breaker(policy: Policy) -> Json:
    return {
        "priority": "DEFAULT",
        "max_connections": policy.max_connections,
        "max_requests": policy.max_requests,
        "max_pending_requests": policy.max_pending,
        "max_retries": policy.max_retries,
        "retry_budget": {
            "budget_percent": {"value": policy.retry_budget_percent},
            "min_retry_concurrency": policy.min_retry_concurrency,
        },
    }


def outlier_detection(policy: Policy) -> Json:
    return {
        "consecutive_5xx": policy.consecutive_5xx,
        "consecutive_gateway_failure": policy.consecutive_5xx,
        "enforcing_consecutive_gateway_failure": 100,
        "interval": seconds(policy.outlier_interval_s),
        "base_ejection_time": seconds(policy.base_ejection_s),
        "max_ejection_percent": policy.max_ejection_percent,
    }


def retry_policy(method: MethodPolicy, policy: Policy) -> Json:
    # a per-try timeout only where a timed-out try may be retried: cutting a PlaceOrder try
    # short would just fail it early, and a stream has no natural end
    per_try = method.idempotent and not method.streaming and policy.per_try_timeout_s > 0
    retry: Json = {
        "retry_on": ",".join(method.retry_on(per_try)),
        "num_retries": policy.retries,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
                    ".PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 3,
        "retry_back_off": {"base_interval": "0.01s", "max_interval": "0.1s"},
    }
    if per_try:
        retry["per_try_timeout"] = seconds(policy.per_try_timeout_s)
    return retry


def route_timeouts(method: MethodPolicy, policy: Policy) -> Json:
    """`timeout: 0s` on streams so they are not cut; otherwise the policy timeout, which a
    client's `grpc-timeout` replaces (uncapped: grpc_timeout_header_max 0s)."""
    return {
        "timeout": "0s" if method.streaming else seconds(policy.timeout_s),
        "max_stream_duration": {"grpc_timeout_header_max": "0s"},
    }


def weighted(service: Service) -> Json:
    return {
        "weighted_clusters": {
            "clusters": [
                {"name": cluster_name(service.name, v.name), "weight": v.weight}
                for v in service.versions
            ]
        }
    }


def peer_routes(service: Service, extra: Json | None = None) -> list[Json]:
    """One route per RPC of `service` (exact path) with its retry policy, split by version;
    then a catch-all for the service prefix that only retries what cannot have run."""
    routes: list[Json] = []
    for method in method_policies(service):
        routes.append(
            {
                "name": method.method,
                "match": {"path": method.path},
                "route": {
                    **weighted(service),
                    **route_timeouts(method, service.policy),
                    "retry_policy": retry_policy(method, service.policy),
                },
                **(extra or {}),
            }
        )
    fallback = MethodPolicy(service.full_name, "*", idempotent=False, streaming=False)
    routes.append(
        {
            "name": "other",
            "match": {"prefix": f"/{service.full_name}/"},
            "route": {
                **weighted(service),
                **route_timeouts(fallback, service.policy),
                "retry_policy": retry_policy(fallback, service.policy),
            },
            **(extra or {}),
        }
    )
    return routes


def inbound_routes(service: Service) -> list[Json]:
    """The sidecar in front of its app: per-RPC timeouts only (retries belong to callers)."""
    routes = [
        {
            "match": {"path": m.path},
            "route": {"cluster": "local-app", **route_timeouts(m, service.policy)},
        }
        for m in method_policies(service)
    ]
    # health, reflection and anything else the app serves
    routes.append({"match": {"prefix": "/"}, "route": {"cluster": "local-app", "timeout": "0s"}})
    return routes


# gRPC statuses that point at the mesh or a server rather than at the caller's request: the
# ones a sidecar logs. Refusals (SOLD_OUT is FAILED_PRECONDITION) are 99 % of a flash sale's
# answers and are counted in the apps' metrics instead of written line by line on every hop.
_SERVER_SIDE_STATUSES = (
    "CANCELED",
    "UNKNOWN",
    "DEADLINE_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
)
SLOW_REQUEST_MS = 1_000


def _runtime_uint(key: str, value: int) -> Json:
    return {"default_value": value, "runtime_key": f"access_log.{key}"}


def failures_filter() -> Json:
    """Log a request that failed on the server side, hit an Envoy response flag, or was slow."""
    return {
        "or_filter": {
            "filters": [
                {"grpc_status_filter": {"statuses": list(_SERVER_SIDE_STATUSES)}},
                {"response_flag_filter": {}},
                {
                    "status_code_filter": {
                        "comparison": {"op": "GE", "value": _runtime_uint("min_status", 500)}
                    }
                },
                {
                    "duration_filter": {
                        "comparison": {
                            "op": "GE",
                            "value": _runtime_uint("slow_ms", SLOW_REQUEST_MS),
                        }
                    }
                },
            ]
        }
    }


def access_log(failures_only: bool = False) -> list[Json]:
    """JSON access log lines on stdout: every request (the edge), or only failures (sidecars,
    which see every request once more per hop)."""
    fields = {
        "time": "%START_TIME%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "http_status": "%RESPONSE_CODE%",
        "grpc_status": "%GRPC_STATUS(NUMBER)%",
        "flags": "%RESPONSE_FLAGS%",
        "duration_ms": "%DURATION%",
        "upstream": "%UPSTREAM_CLUSTER%",
        "upstream_host": "%UPSTREAM_HOST%",
        "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "traceparent": "%REQ(TRACEPARENT)%",
    }
    return [
        {
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3"
                ".StdoutAccessLog",
                "log_format": {"json_format": fields},
            },
            **({"filter": failures_filter()} if failures_only else {}),
        }
    ]


def router_filter() -> Json:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        },
    }
