"""PaymentSettings from an environment mapping: defaults, secrets for rotation, clear errors."""

from __future__ import annotations

import pathlib

import pytest

from servers.common.settings import EnvReader, SettingsError
from servers.payment.__main__ import PaymentSettings, parse_secrets
from servers.payment.domain import RecoveryPoint


def test_defaults_follow_the_brief() -> None:
    settings = PaymentSettings.from_env(EnvReader({}))
    assert settings.database_dsn == "sqlite:///.run/payment.db"
    assert settings.order_target == "127.0.0.1:50052"
    assert settings.bloom_fp == 0.0001
    rules = settings.rules
    assert (rules.tolerance_s, rules.claim_ttl_s, rules.retention_s) == (300, 3600, 259_200)
    assert settings.secrets == {} and rules.holds == {}


def test_secrets_from_env_and_file_add_up_for_rotation(tmp_path: pathlib.Path) -> None:
    secrets_file = tmp_path / "secrets"
    secrets_file.write_text("# rotated in March\nacme=older\nother=o1|o2\n")
    env = {
        "PAYMENT_PROVIDER_SECRETS": "acme=s3cret|olds3cret, beta=b",
        "PAYMENT_SECRETS_FILE": str(secrets_file),
        "MYSQL_DSN": "mysql://root@127.0.0.1:3306/test",
        "PAYMENT_HOLD_AT": "order_done:2.5",
    }
    settings = PaymentSettings.from_env(EnvReader(env))
    assert settings.secrets == {
        "acme": ("s3cret", "olds3cret", "older"),
        "beta": ("b",),
        "other": ("o1", "o2"),
    }
    assert settings.database_dsn.startswith("mysql://")
    assert settings.rules.holds == {RecoveryPoint.ORDER_DONE: 2.5}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PAYMENT_PROVIDER_SECRETS": "acme"}, "PAYMENT_PROVIDER_SECRETS"),
        ({"PAYMENT_PROVIDER_SECRETS": "=x"}, "PAYMENT_PROVIDER_SECRETS"),
        ({"PAYMENT_SECRETS_FILE": "/nonexistent/secrets"}, "PAYMENT_SECRETS_FILE"),
        ({"PAYMENT_RETENTION_S": "3600"}, "PAYMENT_RETENTION_S"),
        ({"PAYMENT_BLOOM_FP": "1.5"}, "PAYMENT_BLOOM_FP"),
        ({"PAYMENT_HOLD_AT": "nowhere:1"}, "PAYMENT_HOLD_AT"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        PaymentSettings.from_env(EnvReader(env))


def test_parse_secrets_accepts_newlines_and_comments() -> None:
    assert parse_secrets("a=1\n\n# c\nb=2|3", "x") == {"a": ("1",), "b": ("2", "3")}
