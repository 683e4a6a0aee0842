// A tiny element builder: h("div", {class: "card"}, "text", child). Strings become text nodes,
// so server data is never parsed as HTML.
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;
type Child = Node | string | number | false | null | undefined;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, ...children);
  return el;
}

export function append(el: HTMLElement, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "number" ? String(child) : child);
  }
}

export function replace(el: HTMLElement, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** Shows a sentence above the page: red for errors, blue for information. */
export function notice(text: string, kind: "error" | "info" = "error"): void {
  const el = document.getElementById("notice");
  if (!el) return;
  el.textContent = text;
  el.className = kind === "info" ? "info" : "";
  el.hidden = text === "";
}

/** Calls `tick` now and every `ms` until `signal` aborts; a failing tick does not stop it. */
export function every(ms: number, signal: AbortSignal, tick: () => Promise<void> | void): void {
  let timer = 0;
  const run = async (): Promise<void> => {
    try {
      await tick();
    } catch (err) {
      if (!signal.aborted) console.warn(err);
    }
    if (!signal.aborted) timer = window.setTimeout(run, ms);
  };
  signal.addEventListener("abort", () => window.clearTimeout(timer));
  void run();
}
