"""protoc plugin that runs grpcio-tools' built-in gRPC Python generator.

grpcio-tools ships the gRPC generator inside its bundled protoc rather than as a
`protoc-gen-grpc_python` executable, so buf cannot call it directly. This shim speaks the plugin
protocol on stdin/stdout and hands the request's files to that bundled protoc.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        descriptors = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
        (root / "in.binpb").write_bytes(descriptors.SerializeToString())
        (root / "out").mkdir()
        args = [
            "protoc",
            f"--descriptor_set_in={root / 'in.binpb'}",
            f"--grpc_python_out={root / 'out'}",
        ]
        if request.parameter:
            args.append(f"--grpc_python_opt={request.parameter}")
        if protoc.main([*args, *request.file_to_generate]) != 0:
            response.error = "grpc_tools.protoc failed for " + ", ".join(request.file_to_generate)
        else:
            for path in sorted((root / "out").rglob("*.py")):
                generated = response.file.add()
                generated.name = str(path.relative_to(root / "out"))
                generated.content = path.read_text()
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
