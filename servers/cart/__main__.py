"""Wiring of the cart service: settings from the environment, peers, caches, server.

Run with `python -m servers.cart`. Variables (besides the common SHOPMESH_*):
  CART_INVENTORY_TARGET  inventory address (in the mesh: the sidecar's outbound listener)
  CART_ORDER_TARGET      order address
  CART_KEYS              inline keys `kid=<base64 32 bytes>,...`, newest first
  CART_KEYS_FILE         a key file (see servers.cart.keys); read after CART_KEYS
  CART_KEYS_RETIRED      key ids whose tokens are refused, e.g. `k1,k2`
  CART_TOKEN_TTL_S       token lifetime, default 7 days
  CART_COUPONS_FILE      the coupon book, default servers/common/data/coupons.json (shared with
                         order, which must be given the same file)
  CART_RATES_FILE        the rate table (reloaded when it changes)
  CART_CATALOG_REFRESH_S, CART_STOCK_MAX_AGE_S   cache freshness (30 s, 1 s)
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import grpc

from servers.cart.catalog import Catalog, CatalogRules
from servers.cart.desk import CartDesk
from servers.cart.domain import DOMAIN
from servers.cart.keys import Keyring, load_keyring
from servers.cart.service import CartService
from servers.cart.tables import RateTable
from servers.cart.tokens import TokenCodec
from servers.cart.upstream import GrpcInventory, GrpcOrders
from servers.common import coupons, logs
from servers.common.channels import open_channel
from servers.common.server import Periodic, ServiceApp, run, serve_until_signalled
from servers.common.settings import EnvReader, ServerSettings
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.order.v1 import order_pb2

DATA = pathlib.Path(__file__).with_name("data")
SERVICE_NAME = cart_pb2.DESCRIPTOR.services_by_name["CartService"].full_name
WEEK_S = 7 * 86_400


@dataclass(frozen=True)
class CartSettings:
    server: ServerSettings
    keyring: Keyring
    inventory_target: str = "127.0.0.1:50051"
    order_target: str = "127.0.0.1:50052"
    token_ttl_s: int = WEEK_S
    coupons_path: pathlib.Path = coupons.DEFAULT_FILE
    rates_path: pathlib.Path = DATA / "rates.json"
    catalog: CatalogRules = field(default_factory=CatalogRules)

    @classmethod
    def from_env(cls, env: EnvReader) -> CartSettings:
        keys_file = env.text("CART_KEYS_FILE", "")
        return cls(
            server=ServerSettings.from_env("cart", env),
            keyring=load_keyring(
                env.text("CART_KEYS", ""),
                pathlib.Path(keys_file) if keys_file else None,
                env.text("CART_KEYS_RETIRED", ""),
            ),
            inventory_target=env.text("CART_INVENTORY_TARGET", "127.0.0.1:50051"),
            order_target=env.text("CART_ORDER_TARGET", "127.0.0.1:50052"),
            token_ttl_s=env.integer("CART_TOKEN_TTL_S", WEEK_S, minimum=1),
            coupons_path=pathlib.Path(env.text("CART_COUPONS_FILE", str(coupons.DEFAULT_FILE))),
            rates_path=pathlib.Path(env.text("CART_RATES_FILE", str(DATA / "rates.json"))),
            catalog=CatalogRules(
                refresh_s=env.number("CART_CATALOG_REFRESH_S", 30.0, minimum=0.1),
                stock_max_age_s=env.number("CART_STOCK_MAX_AGE_S", 1.0, minimum=0.0),
            ),
        )


async def create_app(
    settings: CartSettings,
) -> tuple[ServiceApp, CartDesk[order_pb2.Order]]:
    """Build the cart app; the desk is returned too, for tests and tools."""
    inventory_channel = open_channel(settings.inventory_target, settings.server)
    order_channel = open_channel(settings.order_target, settings.server)
    catalog = Catalog(GrpcInventory(inventory_channel), settings.catalog)
    desk = CartDesk(
        TokenCodec(settings.keyring, settings.token_ttl_s),
        catalog,
        coupons.CouponBook.from_file(settings.coupons_path, DOMAIN, "CART_COUPONS_FILE"),
        RateTable(settings.rates_path),
        GrpcOrders(order_channel),
    )
    servicer = CartService(desk)

    async def close() -> None:
        await inventory_channel.close()
        await order_channel.close()

    async def catalog_loaded() -> None:
        if not catalog.loaded:
            await catalog.refresh()

    def register(server: grpc.aio.Server) -> None:
        cart_pb2_grpc.add_CartServiceServicer_to_server(servicer, server)

    app = ServiceApp(
        service_names=[SERVICE_NAME],
        register=register,
        checks={"catalog": catalog_loaded},
        periodic=[Periodic("catalog-refresh", catalog.refresh, settings.catalog.refresh_s)],
        on_stop=[close],
    )
    return app, desk


async def _main() -> None:
    settings = CartSettings.from_env(EnvReader())
    logs.configure_logging("cart", settings.server.log_level)
    app, _desk = await create_app(settings)
    await serve_until_signalled(app, settings.server)


def main() -> None:
    run(_main)


if __name__ == "__main__":
    main()
