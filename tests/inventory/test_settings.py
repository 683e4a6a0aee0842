"""Inventory settings from the environment: the Reserve batch linger."""

from __future__ import annotations

import pytest

from servers.common.settings import EnvReader, SettingsError
from servers.inventory.__main__ import InventorySettings
from servers.inventory.store import RESERVE_LINGER_S


def test_reserve_linger_is_read_in_milliseconds_and_defaults_to_the_store_s() -> None:
    assert InventorySettings.from_env(EnvReader({})).reserve_linger_s == RESERVE_LINGER_S
    settings = InventorySettings.from_env(EnvReader({"INVENTORY_RESERVE_LINGER_MS": "2.5"}))
    assert settings.reserve_linger_s == pytest.approx(0.0025)
    off = InventorySettings.from_env(EnvReader({"INVENTORY_RESERVE_LINGER_MS": "0"}))
    assert off.reserve_linger_s == 0


def test_a_negative_linger_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="INVENTORY_RESERVE_LINGER_MS"):
        InventorySettings.from_env(EnvReader({"INVENTORY_RESERVE_LINGER_MS": "-1"}))
