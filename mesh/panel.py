"""The figures behind the web page's mesh panel (`/mesh.json`): each service's versions with the
weights the running mesh routes by and the requests the edge has sent to each version.

Browsers cannot read Envoy's admin API (127.0.0.1 only, no CORS), so the web server, which runs
on the same host, reads it for them and serves only these few read-only numbers."""

from __future__ import annotations

import os
import pathlib
import urllib.error
from typing import TypedDict

from mesh import admin
from mesh.envoy_parts import cluster_name
from mesh.resolved import RESOLVED, running
from mesh.topology import Topology, TopologyError

RUN_DIR_ENV = "SHOPMESH_RUN_DIR"
_REQUESTS = r"cluster\.[^.]+\.upstream_rq_total"


class VersionView(TypedDict):
    name: str
    weight: int
    requests: int


class ServiceView(TypedDict):
    name: str
    versions: list[VersionView]


class MeshView(TypedDict):
    config_version: int
    services: list[ServiceView]


def find_run_dir(given: pathlib.Path | None, site: pathlib.Path) -> pathlib.Path | None:
    """`--run-dir`, else $SHOPMESH_RUN_DIR, else the run dir holding the placeholder site."""
    if given is not None:
        return given
    if os.environ.get(RUN_DIR_ENV):
        return pathlib.Path(os.environ[RUN_DIR_ENV])
    if (site.parent / RESOLVED).exists():
        return site.parent
    return None


def _requests(topology: Topology) -> dict[str, int]:
    try:
        return admin.stats(topology.edge.admin, _REQUESTS)
    except (OSError, urllib.error.URLError, ValueError):
        return {}  # the edge is starting or stopping: show weights, no counts


def view(topology: Topology) -> MeshView:
    counts = _requests(topology)
    services: list[ServiceView] = []
    for service in topology.services:
        versions: list[VersionView] = []
        for version in service.versions:
            stat = f"cluster.{cluster_name(service.name, version.name)}.upstream_rq_total"
            versions.append(
                {"name": version.name, "weight": version.weight, "requests": counts.get(stat, 0)}
            )
        services.append({"name": service.name, "versions": versions})
    return {"config_version": topology.config_version, "services": services}


def read(run_dir: pathlib.Path) -> MeshView | None:
    """The panel's figures, or None when no mesh runs from `run_dir`."""
    try:
        topology = running(run_dir)
    except (TopologyError, OSError):
        return None
    return view(topology)
