// Bundles one ES module per widget (plus the shared stylesheet) into a3s_notebook/static/.
//   node build.mjs            production build (minified, no sourcemaps)
//   node build.mjs --dev      development build (inline sourcemaps)
//   node build.mjs --watch    development build, rebuilt on change (use with ANYWIDGET_HMR=1)
//   node build.mjs --tests    compile test/*.test.ts for `node --test` into .test-out/
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "a3s_notebook", "static");
const args = new Set(process.argv.slice(2));
const watch = args.has("--watch");
const dev = watch || args.has("--dev");

/** One entry per widget; the Python classes point their `_esm` at `<name>.js`. */
export const WIDGETS = [
  "event_stream",
  "context_bar",
  "task_table",
  "approval_cards",
  "usage_panel",
  "session_header",
  "memory_table",
];

async function buildTests() {
  const testDir = join(here, "test");
  const out = join(here, ".test-out");
  rmSync(out, { recursive: true, force: true });
  const entries = readdirSync(testDir)
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => join(testDir, f));
  await esbuild.build({
    entryPoints: entries,
    outdir: out,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    sourcemap: "inline",
    logLevel: "warning",
  });
}

async function buildWidgets() {
  const options = {
    entryPoints: [
      ...WIDGETS.map((name) => ({ in: join(here, `${name}.ts`), out: name })),
      { in: join(here, "widgets.css"), out: "widgets" },
    ],
    outdir,
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: !dev,
    sourcemap: dev ? "inline" : false,
    legalComments: dev ? "inline" : "eof",
    // some dependencies test for an AMD loader; the notebook page may have require.js
    define: { "define.amd": "false" },
    logLevel: "info",
  };
  if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log(`watching js/ -> ${outdir}`);
  } else {
    await esbuild.build(options);
  }
}

if (args.has("--tests")) {
  await buildTests();
} else {
  await buildWidgets();
}
