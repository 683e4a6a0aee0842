// Every cart call goes through here: it sends the stored token, keeps the new token the service
// returns, and recovers from a token the service refuses (tampered, expired, from another key) by
// telling the person and starting a fresh cart, instead of leaving a broken page.
import { cart as carts, CALL } from "./api";
import { notice } from "./dom";
import { explain } from "./errors";
import type { Cart } from "./gen/shop/cart/v1/cart_pb";
import { cartToken, saveCartToken, userId } from "./state";

const UNUSABLE_TOKEN = new Set(["CART_TOKEN_INVALID", "CART_TOKEN_EXPIRED"]);

interface Reply {
  cartToken: string;
  cart?: Cart;
}

export function showCount(cart: Cart | undefined): void {
  const link = document.getElementById("nav-cart");
  if (link) link.textContent = cart && cart.itemCount > 0 ? `Cart (${cart.itemCount})` : "Cart";
}

export async function cartCall<R extends Reply>(
  call: (user: string, token: string) => Promise<R>,
): Promise<R> {
  const user = userId();
  let reply: R;
  try {
    reply = await call(user, cartToken());
  } catch (err) {
    const problem = explain(err);
    if (!UNUSABLE_TOKEN.has(problem.reason)) throw err;
    saveCartToken("");
    notice(problem.sentence);
    reply = await call(user, "");
  }
  saveCartToken(reply.cartToken);
  showCount(reply.cart);
  return reply;
}

export async function addToCart(sku: string, quantity: number, title: string): Promise<void> {
  try {
    await cartCall((userId, cartToken) =>
      carts.addItem({ userId, cartToken, sku, quantity }, CALL),
    );
    notice(`Added ${quantity} × ${title} to your cart.`, "info");
  } catch (err) {
    notice(explain(err).sentence);
  }
}
