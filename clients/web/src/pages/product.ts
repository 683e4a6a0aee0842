// One product: description, price, live stock, and a quantity to add to the cart.
import { CALL, inventory } from "../api";
import { addToCart } from "../cartflow";
import { every, h, replace } from "../dom";
import { formatMoney } from "../money";
import { badge, thumb } from "../stock";

export async function productPage(
  root: HTMLElement,
  signal: AbortSignal,
  sku: string,
): Promise<void> {
  const { product } = await inventory.getProduct({ sku }, { ...CALL, signal });
  if (!product) throw new Error("no product in the reply");
  const stockSlot = h("span", { "data-stock": sku }, badge(product.stockState));
  const quantity = h("input", {
    type: "number",
    min: 1,
    max: 99,
    value: 1,
    "aria-label": "Quantity",
  }) as HTMLInputElement;
  const add = h("button", { "data-add": sku }, "Add to cart");
  add.addEventListener("click", () => void addToCart(sku, Number(quantity.value) || 1, product.title));
  replace(
    root,
    h("p", {}, h("a", { href: "#/" }, "← All products")),
    h(
      "article",
      { class: "card", "data-sku": sku },
      thumb(product.title),
      h("h1", {}, product.title),
      h("p", {}, product.description),
      h("span", { class: "price" }, formatMoney(product.price)),
      stockSlot,
      h("div", { class: "row" }, quantity, add),
    ),
  );
  every(2000, signal, async () => {
    const { stock } = await inventory.getStock({ sku }, { ...CALL, signal });
    if (stock) replace(stockSlot, badge(stock.state, stock.available));
  });
}
