"""The descriptor set the edge's JSON transcoder needs, built from protos/ with grpc_tools' protoc
(so `make up` never needs Node or buf)."""

from __future__ import annotations

import importlib
import pathlib
import sys

PROTOS = pathlib.Path(__file__).resolve().parent.parent / "protos"


def build_descriptor_set(out: pathlib.Path, protos: pathlib.Path = PROTOS) -> None:
    # imported by name: neither package ships type information
    google_api_package = importlib.import_module("google.api")
    protoc = importlib.import_module("grpc_tools.protoc")
    google_api = pathlib.Path(next(iter(google_api_package.__path__)))
    well_known = pathlib.Path(str(protoc.__file__)).parent / "_proto"
    sources = sorted(str(p.relative_to(protos)) for p in protos.glob("shop/*/v1/*.proto"))
    args = [
        "protoc",
        f"-I{protos}",
        f"-I{well_known}",
        f"-I{google_api.parent.parent}",  # the folder holding google/api/*.proto
        "--include_imports",
        f"--descriptor_set_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        print(f"protoc failed for {' '.join(args)}", file=sys.stderr)
        raise RuntimeError("could not build the descriptor set from protos/ (see protoc's output)")
