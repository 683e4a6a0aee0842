"""The static server the edge routes `/` to: clients/web/dist when it has been built, else a
placeholder page that says how to build it. Run as `python -m mesh.web --dir D --port P`."""

from __future__ import annotations

import argparse
import functools
import http.server
import pathlib
import threading

WEB_DIST = pathlib.Path(__file__).resolve().parent.parent / "clients" / "web" / "dist"

PLACEHOLDER = """<!doctype html>
<html><head><meta charset="utf-8"><title>shopmesh</title></head>
<body><h1>shopmesh is running</h1>
<p>The web frontend has not been built yet: run <code>npm ci && npm run build</code> in
<code>clients/web</code>, then reload. The gRPC, gRPC-Web and JSON APIs are live on this port
(try <code>curl http://127.0.0.1:8080/v1/products</code>).</p></body></html>
"""


def site_root(run_dir: pathlib.Path, dist: pathlib.Path = WEB_DIST) -> pathlib.Path:
    """The folder to serve: the built frontend, or a placeholder written under the run dir."""
    if (dist / "index.html").exists():
        return dist
    placeholder = run_dir / "web"
    placeholder.mkdir(parents=True, exist_ok=True)
    (placeholder / "index.html").write_text(PLACEHOLDER)
    return placeholder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        # the edge already writes a JSON access log line for every request
        return


def make_server(root: pathlib.Path, port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(root))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve_in_thread(root: pathlib.Path, port: int) -> http.server.ThreadingHTTPServer:
    server = make_server(root, port)
    threading.Thread(target=server.serve_forever, name="web", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh.web")
    parser.add_argument("--dir", required=True, type=pathlib.Path)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    server = make_server(args.dir, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
