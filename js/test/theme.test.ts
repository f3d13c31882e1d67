import "./dom_env.js";
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { THEME_STYLE_ID, ensureTheme } from "../lib/widget.js";
import { cleanup } from "./dom_env.js";

afterEach(() => {
  document.getElementById(THEME_STYLE_ID)?.remove();
  cleanup();
});

test("the theme stylesheet is put into the page once, first in <head>", () => {
  const other = document.createElement("style");
  other.id = "a3s_notebook.widgets._context_bar.ContextBar";
  document.head.append(other);
  const first = ensureTheme();
  const again = ensureTheme();
  assert.equal(first, again);
  assert.equal(document.querySelectorAll(`style#${THEME_STYLE_ID}`).length, 1);
  assert.equal(document.head.firstElementChild, first);
  assert.match(first.textContent ?? "", /\.a3s-root\s*\{/);
  assert.match(first.textContent ?? "", /--a3s-fb-bg/);
  other.remove();
});

test("a newer build's theme replaces the old text instead of adding a second sheet", () => {
  ensureTheme(document, ".a3s-root{color:red}");
  const style = ensureTheme(document, ".a3s-root{color:blue}");
  assert.equal(document.querySelectorAll(`style#${THEME_STYLE_ID}`).length, 1);
  assert.equal(style.textContent, ".a3s-root{color:blue}");
});
