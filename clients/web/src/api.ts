// One gRPC-Web transport to the edge Envoy (same origin as the page) and a client per service.
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { CartService } from "./gen/shop/cart/v1/cart_pb";
import { InventoryService } from "./gen/shop/inventory/v1/inventory_pb";
import { OrderService } from "./gen/shop/order/v1/order_pb";

const transport = createGrpcWebTransport({ baseUrl: window.location.origin });

export const inventory: Client<typeof InventoryService> = createClient(InventoryService, transport);
export const cart: Client<typeof CartService> = createClient(CartService, transport);
export const orders: Client<typeof OrderService> = createClient(OrderService, transport);

/** Unary calls give up after this long; the edge also caps them. */
export const CALL = { timeoutMs: 8000 };
