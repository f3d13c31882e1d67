import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeHtml, MARKDOWN_MAX_CHARS, renderMarkdown } from "../lib/markdown.js";

test("renders Markdown", () => {
  const html = renderMarkdown("**Done.** I wrote `notes.md`.\n\n- a\n- b");
  assert.match(html, /<strong>Done\.<\/strong>/);
  assert.match(html, /<code>notes\.md<\/code>/);
  assert.match(html, /<li>a<\/li>/);
});

test("raw HTML from the model is escaped, not interpreted", () => {
  const html = renderMarkdown('<script>alert(1)</script> <img src=x onerror="alert(2)">');
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<img/i);
  assert.match(html, /&lt;script&gt;/);
});

test("dangerous links are not links", () => {
  const html = renderMarkdown("[click](javascript:alert(1)) [data](data:text/html;base64,xx)");
  assert.doesNotMatch(html, /href="javascript:/i);
  assert.doesNotMatch(html, /href="data:/i);
});

test("links open in a new tab without opener; images are not loaded", () => {
  const html = renderMarkdown("[docs](https://example.org) ![x](https://tracker.example/p.png)");
  assert.match(html, /<a href="https:\/\/example.org" target="_blank" rel="noopener noreferrer nofollow">docs<\/a>/);
  assert.doesNotMatch(html, /<img/);
});

test("huge text is shown verbatim and escaped", () => {
  const html = renderMarkdown(`<b>${"x".repeat(MARKDOWN_MAX_CHARS)}`);
  assert.ok(html.startsWith('<pre class="a3s-pre">&lt;b&gt;'));
  assert.equal(escapeHtml(`<a href="x">'&`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
});
