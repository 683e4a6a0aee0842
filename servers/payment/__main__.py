"""Wiring of the payment gateway: settings from the environment, Redis, SQL, order channel.

Run with `python -m servers.payment`; see README "Configuration" for the variables.
"""

from __future__ import annotations

import math
import os
import pathlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiomysql import OperationalError as MySQLOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servers.common import logs, sql
from servers.common import redis as shared_redis
from servers.common.channels import open_channel
from servers.common.server import Periodic, ServiceApp, run, serve_until_signalled
from servers.common.settings import EnvReader, ServerSettings, SettingsError
from servers.common.snowflake import Snowflake
from servers.payment.claims import RedisClaims
from servers.payment.domain import BloomShape, RecoveryPoint
from servers.payment.gateway import GatewayRules, PaymentGateway
from servers.payment.orders import GrpcOrderPort
from servers.payment.records import SqlPaymentRecords
from servers.payment.service import PaymentService, encode_response
from shop.payment.v1 import payment_pb2, payment_pb2_grpc

SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name
MIN_RETENTION_S = 3 * 86_400.0


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    server: ServerSettings
    database_dsn: str = "sqlite:///.run/payment.db"
    order_target: str = "127.0.0.1:50052"
    secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    key_prefix: str = "pay"
    worker_id: int = 0
    bloom_expected: int = 10_000_000  # keys per retention window (the Bloom filter rotates)
    bloom_fp: float = 0.0001
    bloom_shards: int = 1
    rules: GatewayRules = field(default_factory=GatewayRules)

    @classmethod
    def from_env(cls, env: EnvReader) -> PaymentSettings:
        sqlite_path = env.text("PAYMENT_SQLITE_PATH", ".run/payment.db")
        return cls(
            server=ServerSettings.from_env("payment", env),
            database_dsn=env.text("MYSQL_DSN", f"sqlite:///{sqlite_path}"),
            order_target=env.text("PAYMENT_ORDER_TARGET", "127.0.0.1:50052"),
            secrets=_secrets(env),
            key_prefix=env.text("PAYMENT_KEY_PREFIX", "pay"),
            worker_id=env.integer("PAYMENT_WORKER_ID", 0, minimum=0),
            bloom_expected=env.integer("PAYMENT_BLOOM_EXPECTED", 10_000_000, minimum=1),
            bloom_fp=_fraction(env, "PAYMENT_BLOOM_FP", 0.0001),
            bloom_shards=env.integer("PAYMENT_BLOOM_SHARDS", 1, minimum=1),
            rules=GatewayRules(
                tolerance_s=env.number("PAYMENT_TOLERANCE_S", 300.0, minimum=1),
                claim_ttl_s=env.number("PAYMENT_CLAIM_TTL_S", 3_600.0, minimum=1),
                lock_timeout_s=env.number("PAYMENT_LOCK_TIMEOUT_S", 30.0, minimum=0.1),
                retention_s=env.number(
                    "PAYMENT_RETENTION_S", MIN_RETENTION_S, minimum=MIN_RETENTION_S
                ),
                busy_retry_s=env.number("PAYMENT_BUSY_RETRY_S", 0.2, minimum=0.01),
                holds=_holds(env.text("PAYMENT_HOLD_AT", "")),
            ),
        )

    def bloom_shape(self) -> BloomShape:
        return BloomShape.for_keys(
            math.ceil(self.bloom_expected / self.bloom_shards), self.bloom_fp
        )


def parse_secrets(text: str, source: str) -> dict[str, tuple[str, ...]]:
    """`acme=new|old,other=s3` (commas or newlines between providers, `|` between secrets)."""
    found: dict[str, tuple[str, ...]] = {}
    for entry in text.replace("\n", ",").split(","):
        if not entry.strip() or entry.strip().startswith("#"):
            continue
        provider, sep, secrets = entry.partition("=")
        values = tuple(s.strip() for s in secrets.split("|") if s.strip())
        if not sep or not provider.strip() or not values:
            raise SettingsError(f"{source}: expected provider=secret[|secret...], got {entry!r}")
        found[provider.strip()] = found.get(provider.strip(), ()) + values
    return found


def _secrets(env: EnvReader) -> dict[str, tuple[str, ...]]:
    secrets = parse_secrets(env.text("PAYMENT_PROVIDER_SECRETS", ""), "PAYMENT_PROVIDER_SECRETS")
    path = env.text("PAYMENT_SECRETS_FILE", "")
    if path:
        try:
            text = pathlib.Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"PAYMENT_SECRETS_FILE={path!r}: {exc.strerror}") from None
        for provider, values in parse_secrets(text, "PAYMENT_SECRETS_FILE").items():
            secrets[provider] = secrets.get(provider, ()) + values
    return secrets


def _fraction(env: EnvReader, name: str, default: float) -> float:
    value = env.number(name, default, minimum=0)
    if not 0 < value < 1:
        raise SettingsError(f"{name}={value} must be between 0 and 1")
    return value


def _holds(text: str) -> dict[RecoveryPoint, float]:
    """`PAYMENT_HOLD_AT=order_done:30`: pause at a recovery point (chaos and crash tests)."""
    holds: dict[RecoveryPoint, float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        point, _, seconds = entry.partition(":")
        try:
            holds[RecoveryPoint(point)] = float(seconds or "0")
        except ValueError:
            raise SettingsError(f"PAYMENT_HOLD_AT: bad entry {entry!r}") from None
    return holds


async def create_app(
    settings: PaymentSettings,
    redis_client: aioredis.Redis | None = None,
    database: sql.Database | None = None,
) -> tuple[ServiceApp, PaymentGateway]:
    """Build the payment app; the gateway is returned too, for tests and tools."""
    client = redis_client or shared_redis.connect(settings.server.redis_url)
    db = database or await sql.connect(settings.database_dsn)
    records = SqlPaymentRecords(db)
    await records.migrate()
    channel = open_channel(settings.order_target, settings.server)
    gateway = PaymentGateway(
        settings.secrets,
        RedisClaims(
            client,
            settings.key_prefix,
            settings.bloom_shape(),
            settings.bloom_shards,
            window_ms=int(settings.rules.retention_s * 1000),
        ),
        records,
        GrpcOrderPort(channel),
        encode_response,
        Snowflake(settings.worker_id),
        # Unique per process, so a restarted gateway never mistakes a dead claim for its own.
        f"w{settings.worker_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        settings.rules,
    )
    servicer = PaymentService(gateway)

    async def close() -> None:
        await channel.close()
        if database is None:
            await db.close()
        if redis_client is None:
            await client.aclose()

    app = ServiceApp(
        service_names=[SERVICE_NAME],
        register=lambda server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(
            servicer, server
        ),
        checks={"redis": lambda: shared_redis.ping(client), "sql": db.ping},
        periodic=[Periodic("record-purge", gateway.purge_once, settings.rules.purge_interval_s)],
        on_stop=[close],
        dependency_errors={
            RedisConnectionError: "redis",
            RedisTimeoutError: "redis",
            MySQLOperationalError: "sql",  # lost or refused MariaDB/MySQL connections
        },
    )
    return app, gateway


async def _main() -> None:
    settings = PaymentSettings.from_env(EnvReader())
    logs.configure_logging("payment", settings.server.log_level)
    app, _gateway = await create_app(settings)
    await serve_until_signalled(app, settings.server)


def main() -> None:
    run(_main)


if __name__ == "__main__":
    main()
