"""The static server the edge routes `/` to: clients/web/dist when it has been built, else a
placeholder page that says how to build it, plus `/mesh.json` (mesh.panel) for the page's mesh
panel. Run as `python -m mesh.web --dir D --port P [--run-dir R]`."""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import pathlib
import threading
from typing import Any

from mesh import panel

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


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, run_dir: pathlib.Path | None, **kwargs: Any) -> None:
        self._run_dir = run_dir  # before super().__init__, which handles the request
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        if self.path.partition("?")[0] == "/mesh.json":
            self._mesh_json()
        else:
            super().do_GET()

    def _mesh_json(self) -> None:
        figures = panel.read(self._run_dir) if self._run_dir is not None else None
        if figures is None:
            self.send_error(404, "no running mesh to report on")
            return
        body = json.dumps(figures).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        # a rebuilt bundle must reach the browser on the next load, not after a heuristic expiry
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        # the edge already writes a JSON access log line for every request
        return


def make_server(
    root: pathlib.Path, port: int, run_dir: pathlib.Path | None = None
) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_SiteHandler, directory=str(root), run_dir=run_dir)
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve_in_thread(
    root: pathlib.Path, port: int, run_dir: pathlib.Path | None = None
) -> http.server.ThreadingHTTPServer:
    server = make_server(root, port, run_dir)
    threading.Thread(target=server.serve_forever, name="web", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh.web")
    parser.add_argument("--dir", required=True, type=pathlib.Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--run-dir", type=pathlib.Path, help="the mesh run dir, for /mesh.json")
    args = parser.parse_args(argv)
    server = make_server(args.dir, args.port, panel.find_run_dir(args.run_dir, args.dir))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
