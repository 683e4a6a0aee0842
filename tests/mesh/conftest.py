"""Real Envoy processes rendered from a test topology on free ports, in front of real gRPC
servers."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

import pytest

from mesh import admin, render
from mesh.topology import Instance, Policy, Topology, Version, load
from tests.services import free_port, require


def with_apps(
    topology: Topology,
    apps: Mapping[str, Mapping[str, list[int]]],
    weights: Mapping[str, Mapping[str, int]] | None = None,
    policy: Policy | None = None,
) -> Topology:
    """Keep the services in `apps`, give each version one instance per app port (fresh free
    ports for its sidecar), and optionally override weights and policy."""
    kept = topology.only(set(apps))
    services = []
    for service in kept.services:
        versions = []
        for name, ports in apps[service.name].items():
            instances = tuple(
                Instance(
                    p,
                    free_port(),
                    free_port(),
                    free_port(),
                    {c: free_port() for c in service.calls},
                )
                for p in ports
            )
            weight = (weights or {}).get(service.name, {}).get(name, 100 // len(apps[service.name]))
            versions.append(Version(name, weight, instances))
        services.append(replace(service, versions=tuple(versions), policy=policy or service.policy))
    edge = replace(kept.edge, port=free_port(), admin=free_port(), web=free_port())
    return replace(kept, services=tuple(services), edge=edge)


@dataclass
class EnvoyMesh:
    """Renders a topology into a temp folder and runs the Envoys a test asks for."""

    folder: pathlib.Path
    topology: Topology | None = None
    units: dict[str, render.EnvoyUnit] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, topology: Topology, names: list[str]) -> None:
        self.topology = topology
        self.units = {u.name: u for u in render.write(topology, self.folder)}
        # callees first: a caller's first health check must find its peers' sidecars listening
        for name in names:
            with (self.folder / f"{name}.log").open("ab") as log:
                self.processes[name] = admin.start_envoy(self.folder / f"{name}.yaml", log)
            admin.wait_ready(self.units[name].admin, self.processes[name])
            if self.units[name].routes:  # a rejected route file would otherwise go unnoticed
                admin.wait_route_version(self.units[name].admin, str(topology.config_version))

    async def astart(self, topology: Topology, names: list[str]) -> None:
        # in a thread: the test's own gRPC upstreams must answer Envoy's first health checks
        await asyncio.to_thread(self.start, topology, names)

    def admin_port(self, name: str) -> int:
        return self.units[name].admin

    def stats(self, name: str, regex: str = "") -> dict[str, int]:
        return admin.stats(self.admin_port(name), regex)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            admin.stop(process)
        self.processes.clear()


@pytest.fixture
def base_topology() -> Topology:
    return load()


@pytest.fixture
def envoy_mesh(tmp_path: pathlib.Path) -> Iterator[EnvoyMesh]:
    try:
        admin.envoy_binary()
    except admin.EnvoyMissing as exc:
        require(False, str(exc))
    mesh = EnvoyMesh(tmp_path / "envoy")
    yield mesh
    started = list(mesh.processes.values())
    mesh.stop()
    assert all(p.poll() is not None for p in started)
