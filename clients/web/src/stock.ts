// The stock badge shown next to a product, from a StockState and (when known) what is left.
import { h } from "./dom";
import { StockState } from "./gen/shop/common/v1/common_pb";

export function badge(state: StockState, available?: bigint): HTMLElement {
  if (state === StockState.SOLD_OUT) return h("span", { class: "badge out" }, "Sold out");
  if (state === StockState.LOW) {
    const left = available === undefined ? "Only a few left" : `Only ${available} left`;
    return h("span", { class: "badge low" }, left);
  }
  if (state === StockState.IN_STOCK) return h("span", { class: "badge in" }, "In stock");
  return h("span", { class: "badge" }, "");
}

export function thumb(title: string): HTMLElement {
  return h("div", { class: "thumb", "aria-hidden": "true" }, title.slice(0, 1).toUpperCase());
}
