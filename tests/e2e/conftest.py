"""A whole running mesh (`shopmesh up --free-ports`, started the way tests/mesh/test_up.py does)
and a headless Debian Chromium driven by Playwright, shared by the browser tests of one module."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from mesh import panel
from mesh.resolved import running
from tests.meshup import REPO, shopmesh, shopmesh_up
from tests.services import require

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts" / "web"
# no sandbox (root in CI), no GPU, and none of Chromium's own traffic (updates, sync, field
# trials): without these it dials out at start and its connections are refused here
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class RunningMesh:
    run_dir: pathlib.Path
    edge_port: int
    channel: grpc.Channel

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}/"

    def payment_secret(self) -> tuple[str, str]:
        """(provider, secret) the launched payment service verifies callbacks with."""
        provider, _, secret = (self.run_dir / "payment-secrets").read_text().strip().partition("=")
        return provider, secret

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            shopmesh(*args, "--run-dir", str(self.run_dir)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    base = tmp_path_factory.mktemp("e2e")
    # the web server finds the run dir (for its /mesh.json) in the environment it inherits
    with shopmesh_up(base, env={panel.RUN_DIR_ENV: str(base / "run")}) as run_dir:
        edge_port = running(run_dir).edge.port
        with grpc.insecure_channel(f"127.0.0.1:{edge_port}") as channel:
            yield RunningMesh(run_dir, edge_port, channel)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """A headless Chromium from Debian's package (never a Playwright browser download)."""
    require(
        pathlib.Path(CHROMIUM).exists() and shutil.which("chromium") is not None,
        "browser tests need Chromium: apt-get install chromium",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "browser tests need Playwright: pip install -e '.[test]'")
        raise
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
