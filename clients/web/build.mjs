// `npm run build`: bundle src/main.ts into dist/app.js and copy the static files beside it.
// Deterministic (no timestamps, no absolute paths), so CI can rebuild and diff dist/.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

const dist = new URL("./dist/", import.meta.url);
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/app.js",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome109", "firefox115", "safari16"],
  legalComments: "none",
  logLevel: "warning",
  absWorkingDir: new URL(".", import.meta.url).pathname,
});
for (const name of ["index.html", "app.css"]) {
  copyFileSync(new URL(`./static/${name}`, import.meta.url), new URL(name, dist));
}
console.log("built dist/ (index.html, app.css, app.js)");
