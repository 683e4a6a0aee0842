// The cart: lines with quantities, a coupon, a display currency, and checkout.
import { cart as carts, CALL } from "../api";
import { cartCall } from "../cartflow";
import { h, notice, replace } from "../dom";
import { explain } from "../errors";
import type { Cart } from "../gen/shop/cart/v1/cart_pb";
import { formatMoney } from "../money";
import { currency, saveCartToken, saveCurrency } from "../state";
import { badge } from "../stock";

const CURRENCIES = ["EUR", "USD", "GBP", "CHF", "SEK", "CNY", "JPY", "KRW", "KWD"];

export async function cartPage(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const wanted = currency();
  const reply = await cartCall((userId, cartToken) =>
    carts.quote({ userId, cartToken, currencyCode: wanted }, { ...CALL, signal }),
  );
  render(root, reply.cart);
}

function render(root: HTMLElement, cart: Cart | undefined): void {
  if (!cart || cart.lines.length === 0) {
    replace(
      root,
      h("h1", {}, "Your cart"),
      h("p", { class: "muted", "data-empty-cart": "" }, "Your cart is empty."),
      h("a", { href: "#/" }, "Browse products"),
    );
    return;
  }
  const rows = cart.lines.map((line) =>
    h(
      "tr",
      { "data-line": line.sku },
      h("td", {}, line.title, " ", badge(line.stockState)),
      h("td", { class: "num" }, quantityInput(root, line.sku, line.quantity)),
      h("td", { class: "num" }, formatMoney(line.unitPrice)),
      h("td", { class: "num" }, formatMoney(line.lineTotal)),
      h("td", {}, button("Remove", "plain", () => change(root, "remove", line.sku, 0))),
    ),
  );
  replace(
    root,
    h("h1", {}, "Your cart"),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Item"),
          h("th", { class: "num" }, "Qty"),
          h("th", { class: "num" }, "Price"),
          h("th", { class: "num" }, "Total"),
          h("th", {}),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
    h("div", { class: "row" }, "Subtotal", h("span", { "data-subtotal": "" }, formatMoney(cart.subtotal))),
    h(
      "div",
      { class: "row" },
      "Discount",
      h("span", { "data-discount": "" }, discounted(cart) ? `−${formatMoney(cart.discount)}` : "none"),
      cart.couponCode ? h("span", { class: "badge in", "data-coupon": cart.couponCode }, cart.couponCode) : null,
    ),
    h("div", { class: "row total" }, "Total", h("span", { "data-total": "" }, formatMoney(cart.total))),
    couponForm(root),
    currencyPicker(root, cart.currencyCode),
    h("div", { class: "row" }, button("Check out", "", () => checkout(root), "checkout")),
  );
}

function discounted(cart: Cart): boolean {
  return !!cart.discount && (cart.discount.units !== 0n || cart.discount.nanos !== 0);
}

function button(label: string, cls: string, onClick: () => void, id?: string): HTMLElement {
  const el = h("button", { class: cls || undefined, id }, label);
  el.addEventListener("click", onClick);
  return el;
}

function quantityInput(root: HTMLElement, sku: string, quantity: number): HTMLElement {
  const input = h("input", {
    type: "number",
    min: 1,
    max: 99,
    value: quantity,
    "aria-label": `Quantity of ${sku}`,
    style: "width: 4rem",
  }) as HTMLInputElement;
  input.addEventListener("change", () => change(root, "update", sku, Number(input.value)));
  return input;
}

async function change(root: HTMLElement, what: "update" | "remove", sku: string, n: number) {
  try {
    const reply = await cartCall<{ cartToken: string; cart?: Cart }>((userId, cartToken) =>
      what === "remove"
        ? carts.removeItem({ userId, cartToken, sku }, CALL)
        : carts.updateItem({ userId, cartToken, sku, quantity: n }, CALL),
    );
    notice("");
    render(root, reply.cart);
  } catch (err) {
    notice(explain(err).sentence);
  }
}

function couponForm(root: HTMLElement): HTMLElement {
  const code = h("input", { id: "coupon", placeholder: "Coupon code", "aria-label": "Coupon code" });
  const form = h("form", { class: "row" }, code, h("button", { class: "plain" }, "Apply coupon"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const couponCode = (code as HTMLInputElement).value.trim().toUpperCase();
    try {
      const reply = await cartCall((userId, cartToken) =>
        carts.applyCoupon({ userId, cartToken, couponCode }, CALL),
      );
      notice(couponCode ? `Coupon ${couponCode} applied.` : "Coupon removed.", "info");
      render(root, reply.cart);
    } catch (err) {
      notice(explain(err).sentence);
    }
  });
  return form;
}

function currencyPicker(root: HTMLElement, current: string): HTMLElement {
  const options = CURRENCIES.map((c) => h("option", { value: c, selected: c === current }, c));
  const select = h("select", { id: "currency", "aria-label": "Currency" }, ...options);
  select.addEventListener("change", async () => {
    const currencyCode = (select as HTMLSelectElement).value;
    try {
      const reply = await cartCall((userId, cartToken) =>
        carts.quote({ userId, cartToken, currencyCode }, CALL),
      );
      saveCurrency(currencyCode);
      notice(`Prices shown in ${currencyCode} (rate ${reply.rate}).`, "info");
      render(root, reply.cart);
    } catch (err) {
      notice(explain(err).sentence);
    }
  });
  return h("div", { class: "row" }, "Currency", select);
}

async function checkout(root: HTMLElement): Promise<void> {
  const go = root.querySelector<HTMLButtonElement>("#checkout");
  if (go) go.disabled = true;
  try {
    const reply = await cartCall((userId, cartToken) =>
      carts.checkout({ userId, cartToken }, CALL),
    );
    const id = reply.order?.orderId;
    if (id === undefined) throw new Error("checkout returned no order");
    saveCartToken(reply.cartToken);
    notice("");
    window.location.hash = `#/order/${id.toString()}`;
  } catch (err) {
    notice(explain(err).sentence);
    if (go) go.disabled = false;
  }
}
