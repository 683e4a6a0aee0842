// The mesh panel: each service's versions with their current weights and the requests the edge
// has sent to each, refreshed every second from /mesh.json (served next to this page), so a
// `shopmesh shift` can be watched as it happens.
import { every, h, replace } from "../dom";

interface VersionView {
  name: string;
  weight: number;
  requests: number;
}

interface ServiceView {
  name: string;
  versions: VersionView[];
}

export interface MeshView {
  config_version: number;
  services: ServiceView[];
}

export async function meshPage(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const table = h("tbody");
  const status = h("p", { class: "muted" });
  replace(
    root,
    h("h1", {}, "Mesh"),
    status,
    h(
      "table",
      { id: "mesh" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Service"),
          h("th", {}, "Version"),
          h("th", { class: "num" }, "Weight"),
          h("th", {}),
          h("th", { class: "num" }, "Requests"),
          h("th", { class: "num" }, "Req/s"),
        ),
      ),
      table,
    ),
  );
  let last = new Map<string, number>();
  let lastAt = 0;
  every(1000, signal, async () => {
    const reply = await fetch("mesh.json", { signal, cache: "no-store" });
    if (!reply.ok) {
      status.textContent =
        reply.status === 404
          ? "The mesh panel needs a mesh started with `shopmesh up`."
          : "The mesh figures cannot be read right now.";
      return;
    }
    const mesh = (await reply.json()) as MeshView;
    const now = performance.now();
    const seconds = lastAt ? (now - lastAt) / 1000 : 0;
    const seen = new Map<string, number>();
    const rows = mesh.services.flatMap((s) =>
      s.versions.map((v) => {
        const key = `${s.name}/${v.name}`;
        seen.set(key, v.requests);
        const before = last.get(key);
        const rate = seconds && before !== undefined ? (v.requests - before) / seconds : 0;
        return h(
          "tr",
          { "data-version": key },
          h("td", {}, s.name),
          h("td", {}, v.name),
          h("td", { class: "num", "data-weight": "" }, `${v.weight}%`),
          h("td", { style: "width: 30%" }, h("div", { class: "weight", style: `width: ${v.weight}%` })),
          h("td", { class: "num", "data-requests": "" }, v.requests),
          h("td", { class: "num" }, rate.toFixed(1)),
        );
      }),
    );
    last = seen;
    lastAt = now;
    status.textContent = `Routing config version ${mesh.config_version}; requests counted at the edge.`;
    replace(table, ...rows);
  });
}
