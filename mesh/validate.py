"""`shopmesh render --check`: the checked-in envoy/ equals a fresh render, and Envoy itself
accepts every bootstrap and every route file (`envoy --mode validate`)."""

from __future__ import annotations

import copy
import filecmp
import pathlib
import subprocess
import tempfile
from typing import Any

from mesh import admin, render
from mesh.topology import Topology


def _with_inline_routes(unit: render.EnvoyUnit) -> dict[str, Any]:
    """Validate mode does not read RDS files, so route configs are checked inlined instead."""
    bootstrap = copy.deepcopy(unit.bootstrap)
    for listener in bootstrap["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                hcm = network_filter["typed_config"]
                if "rds" in hcm:
                    name = hcm.pop("rds")["route_config_name"]
                    hcm["route_config"] = copy.deepcopy(unit.routes[name])
    return bootstrap


def envoy_validate(path: pathlib.Path) -> str:
    """'' when Envoy accepts the file, else its complaint."""
    done = subprocess.run(
        [admin.envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if done.returncode == 0 else f"{path}: {(done.stdout + done.stderr).strip()[-800:]}"


def _stale(fresh: pathlib.Path, out: pathlib.Path) -> list[str]:
    problems = []
    for path in sorted(fresh.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(fresh)
        target = out / relative
        if not target.exists() or not filecmp.cmp(path, target, shallow=False):
            problems.append(f"{out / relative} is stale: run `shopmesh render` and commit")
    return problems


def check(topology: Topology, out: pathlib.Path) -> list[str]:
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="shopmesh-render-") as tmp:
        fresh = pathlib.Path(tmp) / "fresh"
        units = render.write(topology, fresh, prefix=str(out))
        problems += _stale(fresh, out)
        for unit in units:
            problems.append(envoy_validate(out / f"{unit.name}.yaml"))
            inline = pathlib.Path(tmp) / f"{unit.name}.inline.yaml"
            inline.write_text(render.dump(_with_inline_routes(unit)))
            problems.append(envoy_validate(inline))
    return [p for p in problems if p]
