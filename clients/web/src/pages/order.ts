// An order, kept live by the WatchOrder server stream: the status changes on screen when the
// payment callback lands, with no reload. A dropped stream is reopened after a short pause.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { CALL, orders } from "../api";
import { h, notice, replace } from "../dom";
import { explain } from "../errors";
import { type Order, OrderStatus } from "../gen/shop/order/v1/order_pb";
import { formatMoney } from "../money";

const LABELS: Record<OrderStatus, string> = {
  [OrderStatus.UNSPECIFIED]: "Unknown",
  [OrderStatus.PENDING_PAYMENT]: "Waiting for payment",
  [OrderStatus.PAID]: "Paid",
  [OrderStatus.SHIPPED]: "Shipped",
  [OrderStatus.COMPLETED]: "Completed",
  [OrderStatus.CANCELLED]: "Cancelled",
};

const FINAL = new Set([OrderStatus.COMPLETED, OrderStatus.CANCELLED]);

export async function orderPage(root: HTMLElement, signal: AbortSignal, id: string): Promise<void> {
  if (!/^\d{1,20}$/.test(id)) {
    replace(root, h("p", {}, "That is not an order number."));
    return;
  }
  const orderId = BigInt(id);
  replace(root, h("p", { class: "muted" }, `Loading order ${id}…`));
  while (!signal.aborted) {
    try {
      for await (const update of orders.watchOrder({ orderId }, { signal })) {
        if (update.order) render(root, update.order);
        if (update.order && FINAL.has(update.order.status)) return;
      }
    } catch (err) {
      if (signal.aborted) return;
      const problem = explain(err);
      if (!root.querySelector("[data-status]")) throw err; // nothing shown yet: say why
      notice(`${problem.sentence} Live updates will resume by themselves.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function when(order: Order): string {
  return order.paymentDeadline ? timestampDate(order.paymentDeadline).toLocaleTimeString() : "";
}

function render(root: HTMLElement, order: Order): void {
  const name = OrderStatus[order.status];
  const rows = order.lines.map((line) =>
    h(
      "tr",
      {},
      h("td", {}, line.title || line.sku),
      h("td", { class: "num" }, line.quantity),
      h("td", { class: "num" }, formatMoney(line.lineTotal)),
    ),
  );
  const cancel = h("button", { class: "plain", id: "cancel" }, "Cancel order");
  cancel.addEventListener("click", async () => {
    try {
      await orders.cancelOrder({ orderId: order.orderId, reason: "cancelled by the buyer" }, CALL);
    } catch (err) {
      notice(explain(err).sentence);
    }
  });
  const pending = order.status === OrderStatus.PENDING_PAYMENT;
  replace(
    root,
    h("h1", {}, `Order ${order.orderId.toString()}`),
    h(
      "p",
      { class: `status ${name}`, "data-status": name, "aria-live": "polite" },
      LABELS[order.status],
    ),
    pending && when(order) ? h("p", { class: "muted" }, `Please pay by ${when(order)}.`) : null,
    order.cancelReason ? h("p", { class: "muted" }, `Reason: ${order.cancelReason}`) : null,
    h("table", {}, h("tbody", {}, ...rows)),
    order.couponCode
      ? h(
          "p",
          { class: "muted" },
          `Coupon ${order.couponCode}: `,
          h("span", { "data-discount": "" }, `−${formatMoney(order.discount)}`),
        )
      : null,
    h("p", { class: "total" }, "Total ", h("span", { "data-total": "" }, formatMoney(order.total))),
    pending ? cancel : null,
  );
}
