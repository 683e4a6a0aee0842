// The product list: prices, stock badges refreshed every two seconds, add to cart.
import { CALL, inventory } from "../api";
import { addToCart } from "../cartflow";
import { every, h, notice, replace } from "../dom";
import { explain } from "../errors";
import { formatMoney } from "../money";
import { badge, thumb } from "../stock";

export async function productsPage(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const reply = await inventory.listProducts({ pageSize: 50 }, { ...CALL, signal });
  const badges = new Map<string, HTMLElement>();
  const cards = reply.products.map((p) => {
    const slot = h("span", { "data-stock": p.sku }, badge(p.stockState));
    badges.set(p.sku, slot);
    const add = h("button", { "data-add": p.sku }, "Add to cart");
    add.addEventListener("click", () => void addToCart(p.sku, 1, p.title));
    return h(
      "article",
      { class: "card", "data-sku": p.sku },
      thumb(p.title),
      h("a", { href: `#/product/${encodeURIComponent(p.sku)}` }, h("strong", {}, p.title)),
      h("span", { class: "price" }, formatMoney(p.price)),
      slot,
      add,
    );
  });
  replace(root, h("h1", {}, "Products"), h("div", { class: "grid" }, ...cards));
  every(2000, signal, async () => {
    const skus = [...badges.keys()];
    if (!skus.length) return;
    try {
      const stock = await inventory.batchGetStock({ skus }, { ...CALL, signal });
      for (const s of stock.stocks) {
        const slot = badges.get(s.sku);
        if (slot) replace(slot, badge(s.state, s.available));
      }
    } catch (err) {
      if (!signal.aborted) notice(explain(err).sentence);
    }
  });
}
