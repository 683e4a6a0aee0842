"""The web server's `/mesh.json` without a browser: weights from the run dir's resolved topology,
zero counts while the edge admin is not answering, 404 when no mesh runs there."""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from mesh import panel, web
from mesh.resolved import RESOLVED, save
from mesh.topology import Topology, load
from tests.services import free_port


@pytest.fixture
def site(tmp_path: pathlib.Path) -> Iterator[tuple[str, pathlib.Path]]:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    server = web.serve_in_thread(tmp_path, free_port(), run_dir)
    yield f"http://127.0.0.1:{server.server_address[1]}", run_dir
    server.shutdown()
    server.server_close()


def _topology() -> Topology:
    return load().renumber(free_port)  # nothing listens on its edge admin port


def test_mesh_json_lists_weights_and_counts(site: tuple[str, pathlib.Path]) -> None:
    url, run_dir = site
    save(_topology(), run_dir / RESOLVED)
    with urllib.request.urlopen(f"{url}/mesh.json", timeout=5) as reply:
        assert reply.headers["Content-Type"] == "application/json"
        assert reply.headers["Cache-Control"] == "no-cache"
        figures = json.loads(reply.read())
    inventory = next(s for s in figures["services"] if s["name"] == "inventory")
    assert inventory["versions"] == [
        {"name": "v1", "weight": 90, "requests": 0},
        {"name": "v2", "weight": 10, "requests": 0},
    ]


def test_mesh_json_is_404_without_a_running_mesh(site: tuple[str, pathlib.Path]) -> None:
    url, _ = site
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{url}/mesh.json", timeout=5)
    assert caught.value.code == 404
    caught.value.close()


def test_the_run_dir_comes_from_the_flag_the_env_or_the_placeholder(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag, site = tmp_path / "flag", tmp_path / "run" / "web"
    assert panel.find_run_dir(flag, site) == flag
    assert panel.find_run_dir(None, site) is None
    site.mkdir(parents=True)
    save(_topology(), site.parent / RESOLVED)
    assert panel.find_run_dir(None, site) == site.parent
    monkeypatch.setenv(panel.RUN_DIR_ENV, str(flag))
    assert panel.find_run_dir(None, site) == flag
