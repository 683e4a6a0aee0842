// Flash sales: a countdown to the sale window, remaining stock refreshed every second, a buy
// button that places a one-unit order, and the outcome in plain words.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { CALL, inventory, orders } from "../api";
import { every, h, replace } from "../dom";
import { explain, transient } from "../errors";
import { StockState } from "../gen/shop/common/v1/common_pb";
import type { Product, Stock } from "../gen/shop/inventory/v1/inventory_pb";
import { formatMoney } from "../money";
import { requestId, userId } from "../state";
import { badge } from "../stock";

type Outcome = "won" | "sold-out" | "limit" | "not-open" | "retry" | "error";

export async function salesPage(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const { products } = await inventory.listProducts({ pageSize: 50 }, { ...CALL, signal });
  const skus = products.map((p) => p.sku);
  const { stocks } = await inventory.batchGetStock({ skus }, { ...CALL, signal });
  const onSale = stocks.filter((s) => s.sale?.endTime || s.sale?.startTime);
  const titles = new Map(products.map((p) => [p.sku, p.title]));
  replace(
    root,
    h("h1", {}, "Flash sales"),
    onSale.length
      ? h(
          "ul",
          {},
          ...onSale.map((s) =>
            h("li", {}, h("a", { href: `#/sale/${encodeURIComponent(s.sku)}` }, titles.get(s.sku) ?? s.sku)),
          ),
        )
      : h("p", { class: "muted" }, "No flash sale is scheduled right now."),
  );
}

function clock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const rest = `${String(Math.floor((total % 3600) / 60)).padStart(2, "0")}:${String(total % 60).padStart(2, "0")}`;
  return hours ? `${hours}:${rest}` : rest;
}

function windowOf(stock: Stock): { start: number; end: number } {
  const start = stock.sale?.startTime ? timestampDate(stock.sale.startTime).getTime() : 0;
  const end = stock.sale?.endTime ? timestampDate(stock.sale.endTime).getTime() : Infinity;
  return { start, end };
}

export async function salePage(root: HTMLElement, signal: AbortSignal, sku: string): Promise<void> {
  const [{ product }, first] = await Promise.all([
    inventory.getProduct({ sku }, { ...CALL, signal }),
    inventory.getStock({ sku }, { ...CALL, signal }),
  ]);
  if (!product || !first.stock) throw new Error("no product in the reply");
  let stock: Stock = first.stock;
  let outcome: Outcome | null = null;
  const view = new SaleView(product, () => void buy());

  const refresh = (): void => {
    const now = Date.now();
    const { start, end } = windowOf(stock);
    const open = now >= start && now < end;
    const soldOut = stock.state === StockState.SOLD_OUT || stock.available <= 0n;
    if (now < start) view.countdown(`Starts in ${clock(start - now)}`, "waiting");
    else if (now >= end) view.countdown("This sale has ended.", "ended");
    else view.countdown(end === Infinity ? "On sale now" : `On sale — ends in ${clock(end - now)}`, "open");
    view.stock(stock);
    if (soldOut && outcome !== "won") show("sold-out", "Sold out — every unit has been sold.");
    view.buyable(open && !soldOut && outcome !== "won");
  };

  const show = (kind: Outcome, text: string, link?: HTMLElement): void => {
    outcome = kind;
    view.outcome(kind, text, link);
  };

  const buy = async (): Promise<void> => {
    view.buyable(false);
    view.outcome("retry", "Placing your order…");
    try {
      // x-shop-sku lets the edge answer SOLD_OUT itself once the SKU is gone (mesh/gate.py)
      const reply = await orders.placeOrder(
        { requestId: requestId(), userId: userId(), lines: [{ sku, quantity: 1 }] },
        { ...CALL, headers: { "x-shop-sku": sku } },
      );
      const id = reply.order?.orderId.toString() ?? "";
      const link = h("a", { href: `#/order/${id}` }, `See order ${id} and pay`);
      show("won", "You got one!", link);
    } catch (err) {
      const problem = explain(err);
      if (problem.reason === "SOLD_OUT") show("sold-out", "Sold out — every unit has been sold.");
      else if (problem.reason === "LIMIT_EXCEEDED")
        show("limit", "Limit reached — you already hold as many as one person may buy.");
      else if (problem.reason === "SALE_NOT_ACTIVE") show("not-open", problem.sentence);
      else if (transient(problem) || problem.code === Code.Unknown)
        show("retry", "Too many people are buying right now — try again.");
      else show("error", problem.sentence);
    }
    refresh();
  };

  replace(root, view.root);
  every(1000, signal, async () => {
    const reply = await inventory.getStock({ sku }, { ...CALL, signal });
    if (reply.stock) stock = reply.stock;
    refresh();
  });
  const ticker = window.setInterval(refresh, 250);
  signal.addEventListener("abort", () => window.clearInterval(ticker));
}

class SaleView {
  readonly root: HTMLElement;
  private readonly timer = h("p", { class: "countdown", "data-countdown": "" });
  private readonly left = h("p", { "data-remaining": "" });
  private readonly button = h("button", { id: "buy" }, "Buy now");
  private readonly result = h("p", { class: "outcome", "aria-live": "polite" });

  constructor(product: Product, onBuy: () => void) {
    this.button.addEventListener("click", onBuy);
    this.root = h(
      "section",
      { class: "card", "data-sale": product.sku },
      h("h1", {}, `Flash sale: ${product.title}`),
      h("span", { class: "price" }, formatMoney(product.price)),
      this.timer,
      this.left,
      h("div", { class: "row" }, this.button),
      this.result,
    );
  }

  countdown(text: string, phase: string): void {
    this.timer.textContent = text;
    this.timer.dataset.phase = phase;
  }

  stock(stock: Stock): void {
    const limit = stock.sale?.perUserLimit ? ` · limit ${stock.sale.perUserLimit} per person` : "";
    replace(this.left, `${stock.available.toString()} of ${stock.initial.toString()} left${limit} `, badge(stock.state, stock.available));
  }

  buyable(on: boolean): void {
    (this.button as HTMLButtonElement).disabled = !on;
  }

  outcome(kind: Outcome, text: string, link?: HTMLElement): void {
    this.result.className = `outcome ${kind}`;
    this.result.dataset.outcome = kind;
    replace(this.result, text, link ? " " : null, link);
  }
}
