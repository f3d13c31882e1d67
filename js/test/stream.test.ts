import assert from "node:assert/strict";
import { test } from "node:test";
import { applyDelta, applySnapshot, newLive, pendingSegments, pruneCommitted, rowKey, visibleRows } from "../lib/stream.js";
import type { Row } from "../lib/types.js";

test("deltas append only new text, per segment and field", () => {
  const s = newLive();
  applyDelta(s, { kind: "delta", seq: 1, parts: [{ seg: "r1", field: "text", text: "Hel" }] });
  applyDelta(s, {
    kind: "delta",
    seq: 2,
    parts: [
      { seg: "r1", field: "text", text: "lo" },
      { seg: "r1", field: "reasoning", text: "hmm" },
      { seg: "r2", field: "output", text: "out" },
    ],
  });
  assert.deepEqual(s.segs.get("r1"), { text: "Hello", reasoning: "hmm" });
  assert.deepEqual(s.segs.get("r2"), { output: "out" });
});

test("a snapshot replaces live state; older deltas are then ignored", () => {
  const s = newLive();
  applyDelta(s, { kind: "delta", seq: 1, parts: [{ seg: "r1", field: "text", text: "ab" }] });
  assert.equal(applySnapshot(s, { kind: "snapshot", seq: 3, live: { r1: { text: "abcd" } } }), true);
  assert.equal(applyDelta(s, { kind: "delta", seq: 3, parts: [{ seg: "r1", field: "text", text: "cd" }] }), false);
  applyDelta(s, { kind: "delta", seq: 4, parts: [{ seg: "r1", field: "text", text: "e" }] });
  assert.equal(s.segs.get("r1")?.text, "abcde");
  // a stale snapshot does not roll back
  assert.equal(applySnapshot(s, { kind: "snapshot", seq: 2, live: {} }), false);
});

test("5,000 deltas coalesced into a few messages rebuild the exact text", () => {
  const words = Array.from({ length: 5000 }, (_, i) => `w${i} `);
  const s = newLive();
  let seq = 0;
  for (let i = 0; i < words.length; i += 250) {
    seq++;
    applyDelta(s, { kind: "delta", seq, parts: [{ seg: "r9", field: "text", text: words.slice(i, i + 250).join("") }] });
  }
  assert.equal(s.segs.get("r9")?.text, words.join(""));
});

test("committed rows replace live segments", () => {
  const s = newLive();
  applyDelta(s, {
    kind: "delta",
    seq: 1,
    parts: [
      { seg: "r1", field: "text", text: "hi" },
      { seg: "r2", field: "output", text: "partial" },
    ],
  });
  const running: Row = { id: "r2", kind: "tool", tool_id: "t", name: "bash", status: "running" };
  pruneCommitted(s, [running]);
  assert.ok(s.segs.has("r2"), "a running tool keeps its live output");
  assert.deepEqual(pendingSegments(s, new Set(["r2"])), [["r1", { text: "hi" }]]);
  pruneCommitted(s, [
    { id: "r1", kind: "assistant", text: "hi" },
    { ...running, status: "ok", v: 1 },
  ]);
  assert.equal(s.segs.size, 0);
});

test("row windows and cache keys", () => {
  const rows = Array.from({ length: 250 }, (_, i) => i);
  assert.deepEqual(visibleRows(rows, 100).hidden, 150);
  assert.equal(visibleRows(rows, 100).rows[0], 150);
  assert.equal(visibleRows(rows, 500).hidden, 0);
  assert.equal(rowKey({ id: "r1", kind: "error", message: "x", v: 2 }), "r1:2");
});
