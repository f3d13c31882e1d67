import assert from "node:assert/strict";
import { test } from "node:test";
import { band, clampFraction, textBar } from "../lib/context.js";
import {
  argsSummary,
  formatCost,
  formatCountdown,
  formatDuration,
  formatInt,
  formatPercent,
  prettyJson,
  tail,
  truncate,
} from "../lib/format.js";

test("numbers and percentages", () => {
  assert.equal(formatInt(12345), "12,345");
  assert.equal(formatInt(null), "–");
  assert.equal(formatPercent(0.0617), "6.2%");
  assert.equal(formatPercent(1), "100.0%");
});

test("an unknown cost never reads as $0", () => {
  assert.equal(formatCost(null), "unknown");
  assert.equal(formatCost(undefined), "unknown");
  assert.equal(formatCost(0), "$0.00");
  assert.equal(formatCost(0.000123), "$0.000123");
  assert.equal(formatCost(0.0456), "$0.0456");
  assert.equal(formatCost(0.75), "$0.75");
  assert.equal(formatCost(0.1234), "$0.1234");
  assert.equal(formatCost(0.123), "$0.123");
  assert.equal(formatCost(12.5), "$12.50");
});

test("durations and countdowns", () => {
  assert.equal(formatDuration(850), "850 ms");
  assert.equal(formatDuration(1234), "1.2 s");
  assert.equal(formatDuration(125_000), "2 min 5 s");
  assert.equal(formatCountdown(65_000), "1:05");
  assert.equal(formatCountdown(9_001), "0:10");
  assert.equal(formatCountdown(-5), "0:00");
});

test("truncation keeps the end of long outputs", () => {
  assert.equal(truncate("abcdef", 4), "abc…");
  const t = tail("x".repeat(50) + "END", 10);
  assert.ok(t.endsWith("END"));
  assert.match(t, /43 earlier characters not shown/);
});

test("argument summaries pick the telling value", () => {
  assert.equal(argsSummary({ file_path: "notes.md", content: "…" }), "notes.md");
  assert.equal(argsSummary({ todos: [1, 2, 3] }), "todos: 3 items");
  assert.equal(argsSummary({ n: 3 }), "n: 3");
  assert.equal(argsSummary(null), "");
});

test("pretty JSON is cut when huge", () => {
  assert.equal(prettyJson({ a: 1 }), '{\n  "a": 1\n}');
  const big = prettyJson({ s: "x".repeat(50_000) }, 100);
  assert.ok(big.length < 200);
  assert.match(big, /more characters/);
});

test("context bands follow the compaction threshold", () => {
  assert.equal(band(0.1, 0.8), "ok");
  assert.equal(band(0.5, 0.8), "warn");
  assert.equal(band(0.8, 0.8), "danger");
  assert.equal(band(0.35, 0.4), "warn");
  assert.equal(band(0.2, 0.4), "ok");
  assert.equal(clampFraction(1.7), 1);
  assert.equal(clampFraction(Number.NaN), 0);
  assert.equal(textBar(0.5, 4), "▓▓░░");
});
