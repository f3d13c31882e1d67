import assert from "node:assert/strict";
import { test } from "node:test";
import "./dom_env.js";
import { EventStreamView } from "../lib/event_stream_view.js";
import {
  applyDelta,
  applyRows,
  applySnapshot,
  newLive,
  newRows,
  pendingSegments,
  pruneCommitted,
  rowKey,
  setRows,
  visibleRows,
} from "../lib/stream.js";
import type { Row, RowOp, RowsMsg } from "../lib/types.js";

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

function rowsMsg(rev: number, ops: RowOp[]): RowsMsg {
  return { kind: "rows", rev, ops };
}

const user = (id: string, text: string): Row => ({ id, kind: "user", text });

test("row messages append, update and insert, in revision order", () => {
  const s = newRows();
  assert.equal(setRows(s, [user("r1", "hi")], 4), true);
  assert.equal(applyRows(s, rowsMsg(5, [{ op: "append", row: { id: "r2", kind: "tool", tool_id: "t", name: "ls", status: "running" } }])), "applied");
  assert.equal(
    applyRows(
      s,
      rowsMsg(6, [
        { op: "update", row: { id: "r2", kind: "tool", tool_id: "t", name: "ls", status: "ok", exit_code: 0, v: 1 } },
        { op: "insert", before: "r2", row: { id: "r3", kind: "assistant", text: "let me look" } },
        { op: "append", row: { id: "r4", kind: "end", turns: 1 } },
      ]),
    ),
    "applied",
  );
  assert.deepEqual(
    s.rows.map((r) => [r.id, r.kind === "tool" ? r.status : r.kind]),
    [
      ["r1", "user"],
      ["r3", "assistant"],
      ["r2", "ok"],
      ["r4", "end"],
    ],
  );
  assert.equal(s.index.get("r2"), 2);
  // already applied: ignored; a message after a missing one: a gap, nothing applied
  assert.equal(applyRows(s, rowsMsg(6, [{ op: "append", row: user("x", "dup") }])), "stale");
  assert.equal(applyRows(s, rowsMsg(8, [{ op: "append", row: user("y", "later") }])), "gap");
  assert.equal(s.rows.length, 4);
  // a full state only when newer
  assert.equal(setRows(s, [], 6), false);
  assert.equal(setRows(s, [user("z", "all")], 8), true);
  assert.deepEqual(s.rows.map((r) => r.id), ["z"]);
  assert.equal(applyRows(s, rowsMsg(9, [{ op: "append", row: user("w", "next") }])), "applied");
});

test("a view made mid-run asks for a snapshot once, then follows the messages", () => {
  let traits: Row[] = [user("r1", "old")];
  let asked = 0;
  const view = new EventStreamView({
    rows: () => traits,
    rowsRev: () => 2,
    status: () => ({ phase: "idle" }),
    pageSize: () => 100,
    requestSnapshot: () => asked++,
  });
  view.updateRows();
  // revisions 3..5 went out before this view existed
  assert.equal(view.handleMessage(rowsMsg(6, [{ op: "append", row: user("r9", "x") }])), false);
  assert.equal(view.handleMessage(rowsMsg(7, [{ op: "append", row: user("r10", "y") }])), false);
  assert.equal(asked, 1);
  const all = [user("r1", "old"), user("r5", "a"), user("r9", "x"), user("r10", "y")];
  assert.equal(view.handleMessage({ kind: "snapshot", seq: 0, live: {}, rev: 7, rows: all }), true);
  view.renderLive();
  assert.equal(view.handleMessage(rowsMsg(8, [{ op: "append", row: user("r11", "z") }])), true);
  view.renderLive();
  const shown = [...view.el.querySelectorAll("[data-row]")].map((el) => el.getAttribute("data-row"));
  assert.deepEqual(shown, ["r1", "r5", "r9", "r10", "r11"]);
  // the run's end puts the same rows into the traits: nothing changes on screen
  traits = view.committedRows();
  view.updateRows();
  assert.deepEqual(view.committedRows().map((r) => r.id), shown);
});
