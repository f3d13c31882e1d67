// Bundles one ES module and one stylesheet per widget into a3s_notebook/static/. The theme
// (css/theme.css: variables and shared classes) is minified into every ES module as text,
// which injects it into the page once (lib/widget.ts ensureTheme); a widget's own rules
// (css/<widget>.css) are its anywidget `_css`, one <style> per widget class.
//   node build.mjs            production build (minified, no sourcemaps)
//   node build.mjs --dev      development build (inline sourcemaps)
//   node build.mjs --watch    development build, rebuilt on change (use with ANYWIDGET_HMR=1)
//   node build.mjs --tests    compile test/*.test.ts for `node --test` into .test-out/
import { readFileSync, readdirSync, rmSync } from "node:fs";
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
    plugins: [cssAsText],
  });
}

/** `import theme from "./css/theme.css"` gives the stylesheet as a (minified) string. */
const cssAsText = {
  name: "css-as-text",
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async (a) => {
      const source = readFileSync(a.path, "utf8");
      const { code } = await esbuild.transform(source, { loader: "css", minify: !dev });
      return { contents: code, loader: "text" };
    });
  },
};

const common = {
  outdir,
  bundle: true,
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  legalComments: dev ? "inline" : "eof",
  logLevel: "info",
};

async function buildWidgets() {
  const scripts = {
    ...common,
    entryPoints: WIDGETS.map((name) => ({ in: join(here, `${name}.ts`), out: name })),
    format: "esm",
    target: "es2022",
    // some dependencies test for an AMD loader; the notebook page may have require.js
    define: { "define.amd": "false" },
    plugins: [cssAsText],
  };
  const styles = {
    ...common,
    entryPoints: [...WIDGETS, "theme"].map((name) => ({ in: join(here, "css", `${name}.css`), out: name })),
    sourcemap: false,
  };
  if (watch) {
    const contexts = await Promise.all([esbuild.context(scripts), esbuild.context(styles)]);
    await Promise.all(contexts.map((ctx) => ctx.watch()));
    console.log(`watching js/ -> ${outdir}`);
  } else {
    await Promise.all([esbuild.build(scripts), esbuild.build(styles)]);
  }
}

if (args.has("--tests")) {
  await buildTests();
} else {
  await buildWidgets();
}
