// The page shell: a hash router that gives each page an AbortSignal, so leaving a page stops its
// polling and closes its WatchOrder stream; a page that fails to load says why in a sentence.
import { h, notice, replace } from "./dom";
import { explain } from "./errors";
import { cartPage } from "./pages/cart";
import { meshPage } from "./pages/mesh";
import { orderPage } from "./pages/order";
import { productPage } from "./pages/product";
import { productsPage } from "./pages/products";
import { salePage, salesPage } from "./pages/sale";

type Page = (root: HTMLElement, signal: AbortSignal, arg: string) => Promise<void>;

const ROUTES: [RegExp, Page][] = [
  [/^\/?$/, productsPage],
  [/^\/product\/(.+)$/, productPage],
  [/^\/cart$/, cartPage],
  [/^\/order\/(.+)$/, orderPage],
  [/^\/sale$/, salesPage],
  [/^\/sale\/(.+)$/, salePage],
  [/^\/mesh$/, meshPage],
];

let current: AbortController | null = null;

async function route(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const root = document.getElementById("app");
  if (!root) return;
  notice("");
  const path = window.location.hash.replace(/^#/, "") || "/";
  const found = ROUTES.map(([re, page]) => [re.exec(path), page] as const).find(([m]) => m);
  if (!found) {
    replace(root, h("h1", {}, "Not found"), h("a", { href: "#/" }, "Back to the products"));
    return;
  }
  const [match, page] = found;
  try {
    await page(root, controller.signal, decodeURIComponent(match?.[1] ?? ""));
  } catch (err) {
    if (controller.signal.aborted) return;
    const problem = explain(err);
    replace(root, h("p", { class: "muted", "data-error": problem.reason || "" }, problem.sentence));
  }
}

window.addEventListener("hashchange", () => void route());
void route();
