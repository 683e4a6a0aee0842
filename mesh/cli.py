"""`shopmesh`: run the shop locally (up/down/status/shift), render its configs, and reach the
operational tools of the services (reconcile, dead letters, benchmarks)."""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any

from mesh import gate, k8s, launcher, render, resolved, shift, status, topology, up, validate
from mesh.ports import free_port
from mesh.topology import TopologyError


def _up(args: argparse.Namespace) -> int:
    model = topology.load(pathlib.Path(args.topology))
    wanted = set(args.services.split(",")) if args.services else {s.name for s in model.services}
    running = wanted & launcher_services()
    missing = wanted - running
    if missing:
        print(f"==> not started yet (no servers/<svc>/__main__.py): {', '.join(sorted(missing))}")
    model = model.only(running)
    if args.free_ports:
        model = model.renumber(free_port)
    options = up.UpOptions(
        pathlib.Path(args.run_dir),
        model,
        os.environ.get("REDIS_URL", ""),
        os.environ.get("MYSQL_DSN", ""),
    )
    ready = pathlib.Path(args.ready_file) if args.ready_file else None
    return up.run(options, ready)


def launcher_services() -> set[str]:
    from mesh.plan import available_services

    return available_services()


def _down(args: argparse.Namespace) -> int:
    run_dir = pathlib.Path(args.run_dir)
    if launcher.read_state(run_dir) is None:
        print(f"nothing running from {run_dir}")
        return 0
    killed = launcher.down(run_dir)
    print("stopped" + (f" (had to kill: {', '.join(killed)})" if killed else ""))
    return 0


def _status(args: argparse.Namespace) -> int:
    print(status.report(resolved.running(pathlib.Path(args.run_dir))))
    return 0


def _shift(args: argparse.Namespace) -> int:
    run_dir = pathlib.Path(args.run_dir)
    weights = shift.parse_weights(args.weights)
    with gate.routes_lock(run_dir):  # the edge gate rewrites the same route file
        current = resolved.running(run_dir)
        updated, applied = shift.apply(current, run_dir / "envoy", args.service, weights)
        resolved.save(updated, run_dir / resolved.RESOLVED)
    split = " ".join(f"{k}={v}" for k, v in updated.service(args.service).weights().items())
    slowest = max(applied.values(), default=0.0)
    print(
        f"{args.service}: {split} applied as config version {updated.config_version} "
        f"by {', '.join(applied)} in {slowest:.2f} s"
    )
    return 0


def _render(args: argparse.Namespace) -> int:
    model = topology.load(pathlib.Path(args.topology))
    out = pathlib.Path(args.out or ("envoy/k8s" if args.what == "k8s" else "envoy"))
    if args.what == "k8s":
        written = k8s.write(model, out)
        print(f"wrote {len(written)} Kubernetes/Istio manifests to {out}")
        return 0
    if args.check:
        problems = validate.check(model, out)
        for problem in problems:
            print(problem, file=sys.stderr)
        print("envoy/ is up to date and valid" if not problems else "envoy/ check failed")
        return 1 if problems else 0
    units = render.write(model, out, prefix=args.prefix or str(out))
    print(f"wrote {len(units)} Envoy bootstraps and their route files to {out}")
    return 0


def _delegate(module: str, what: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            target = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            print(f"shopmesh {what}: not available yet ({exc.name} is missing)", file=sys.stderr)
            return 2
        entry = getattr(target, "cli_main", None) or target.main
        return int(entry(list(args.rest)))

    return handler


DELEGATES = {
    ("reconcile",): ("servers.order.reconcile", "reconcile"),
    ("bench",): ("bench.__main__", "bench"),
    ("orders", "dead-letters"): ("servers.order.deadletters", "orders dead-letters"),
}


def _add_run_commands(commands: Any, default_topology: str) -> None:
    cmd = commands.add_parser("up", help="run the whole shop on this machine until Ctrl-C")
    cmd.add_argument("--run-dir", default=".run", help="logs, data, configs (default .run)")
    cmd.add_argument("--topology", default=default_topology)
    cmd.add_argument("--services", default="", help="comma-separated subset (default: all)")
    cmd.add_argument("--free-ports", action="store_true", help="free ports, not the topology's")
    cmd.add_argument("--ready-file", default="", help=argparse.SUPPRESS)
    cmd.set_defaults(handler=_up)
    for name, handler, text in (
        ("down", _down, "stop a running `shopmesh up`"),
        ("status", _status, "services, versions, weights, health and Envoy stats"),
    ):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("--run-dir", default=".run")
        cmd.set_defaults(handler=handler)
    cmd = commands.add_parser("shift", help="change weights live, e.g. inventory v1=90 v2=10")
    cmd.add_argument("service")
    cmd.add_argument("weights", nargs="+", metavar="VERSION=PERCENT")
    cmd.add_argument("--run-dir", default=".run")
    cmd.set_defaults(handler=_shift)


def _add_render(commands: Any, default_topology: str) -> None:
    cmd = commands.add_parser("render", help="write Envoy configs (envoy/) or k8s + Istio")
    cmd.add_argument("what", nargs="?", choices=["envoy", "k8s"], default="envoy")
    cmd.add_argument("--topology", default=default_topology)
    cmd.add_argument("--out", default="")
    cmd.add_argument("--prefix", default="", help="path prefix in bootstraps (default: --out)")
    cmd.add_argument("--check", action="store_true", help="fail if envoy/ is stale or invalid")
    cmd.set_defaults(handler=_render)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopmesh", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    default_topology = str(topology.DEFAULT_TOPOLOGY)
    _add_run_commands(commands, default_topology)
    _add_render(commands, default_topology)
    # listed for --help only: main() hands these to their tools before parsing
    for prefix, (_module, what) in DELEGATES.items():
        commands.add_parser(prefix[0], help=f"{what} (delegated)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for prefix, (module, what) in DELEGATES.items():
        if tuple(argv[: len(prefix)]) == prefix:
            # everything after the prefix belongs to the tool, --help included
            return _delegate(module, what)(argparse.Namespace(rest=argv[len(prefix) :]))
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (TopologyError, RuntimeError, OSError) as exc:
        print(f"shopmesh {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
