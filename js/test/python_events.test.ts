// Real Python output through the real JS. tests/test_js_events.py runs a scripted session
// (approvals, a deny rule, streamed text and output, a compaction, a guard block) and writes
// what it produced into $A3S_EVENTS_DIR; here every event is checked against the generated
// event types, and the widgets' rows, wire messages, cards and panels go through the real
// renderers. Without $A3S_EVENTS_DIR (a plain `npm test`) these tests are skipped.
import "./dom_env.js";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, test } from "node:test";
import { renderCard } from "../lib/approvals_view.js";
import { EventStreamView, renderRow } from "../lib/event_stream_view.js";
import { DURABLE_TYPES, EVENT_TYPES, isAgentEvent, validateAgentEvent } from "../lib/events.gen.js";
import { renderContextBar, renderTaskTable, renderUsagePanel } from "../lib/panels.js";
import { applyDelta, newLive } from "../lib/stream.js";
import type { Card, ContextState, InboundMsg, Row, Status, TaskItem, UsageState } from "../lib/types.js";
import { cleanup } from "./dom_env.js";

afterEach(cleanup);

const dir = process.env.A3S_EVENTS_DIR;
const opts = { skip: dir ? false : "A3S_EVENTS_DIR is not set (tests/test_js_events.py sets it)" };

function json<T>(name: string): T {
  return JSON.parse(readFileSync(join(dir ?? "", name), "utf8")) as T;
}

function jsonl<T>(name: string): T[] {
  return readFileSync(join(dir ?? "", name), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as T);
}

type Obj = Record<string, unknown>;

function withoutTs(line: Obj): Obj {
  const { ts: _ts, ...rest } = line;
  return rest;
}

test("every event the session emitted is a well-formed AgentEvent", opts, () => {
  const events = jsonl<Obj>("events.jsonl");
  assert.ok(events.length > 50, `only ${events.length} events`);
  events.forEach((e, i) => assert.equal(validateAgentEvent(e), null, `event ${i + 1}: ${JSON.stringify(e).slice(0, 300)}`));
  const types = new Set(events.map((e) => e.type as string));
  for (const t of types) assert.ok((EVENT_TYPES as readonly string[]).includes(t), t);
  // the run touched the nested models too: messages, tasks, cost records, snapshots
  for (const t of ["message_added", "task_updated", "usage_recorded", "history_replaced", "tool_output_delta"]) {
    assert.ok(types.has(t), `no ${t} event`);
  }
});

test("every line of the session log is a durable AgentEvent with its time", opts, () => {
  const log = jsonl<Obj>("session.jsonl");
  assert.equal(log[0]?.type, "session_created");
  assert.deepEqual([...DURABLE_TYPES], json<string[]>("durable_types.json"), "events.gen.ts is stale: run gen_types.py");
  log.forEach((line, i) => {
    assert.ok(isAgentEvent(line), `line ${i + 1}: ${validateAgentEvent(line)}`);
    assert.ok((DURABLE_TYPES as readonly string[]).includes(line.type as string), `line ${i + 1}: ${String(line.type)} is not durable`);
    assert.equal(typeof line.ts, "number", `line ${i + 1} has no time`);
  });
  // the log is the durable events the subscribers saw, in order (after the session's header)
  const durable = jsonl<Obj>("events.jsonl").filter((e) => (DURABLE_TYPES as readonly string[]).includes(e.type as string));
  assert.deepEqual(log.slice(log.length - durable.length).map(withoutTs), durable);
});

/** The class that says what a row is (the one the stylesheet and the browser tests use). */
function expectedClass(row: Row): string {
  switch (row.kind) {
    case "user":
      return "a3s-user";
    case "assistant":
      return "a3s-assistant";
    case "tool":
      return `a3s-tool--${row.status}`;
    case "denied":
    case "error":
      return "a3s-notice--danger";
    case "compacted":
      return "a3s-notice--info";
    case "confirmation":
      return { requested: "a3s-notice--info", approved: "a3s-notice--ok", denied: "a3s-notice--danger", timeout: "a3s-notice--warn" }[row.outcome];
    case "budget":
      return "a3s-notice--warn";
    case "security":
      return "a3s-security";
    case "hook":
      return "a3s-hook";
    case "note":
      return `a3s-topic--${row.topic}`;
    case "end":
      return "a3s-end";
  }
}

for (const file of ["rows.json", "restored_rows.json"]) {
  test(`each row of ${file} renders with its class`, opts, () => {
    const rows = json<Row[]>(file);
    const kinds = new Set(rows.map((r) => r.kind));
    for (const k of ["user", "assistant", "tool", "confirmation", "denied", "compacted", "security", "error", "end"]) {
      assert.ok(kinds.has(k as Row["kind"]), `no ${k} row in ${file}`);
    }
    for (const row of rows) {
      const el = renderRow(row);
      const what = `${row.kind} row ${row.id}: ${el.className}`;
      assert.ok(el.classList.contains("a3s-row"), what);
      assert.ok(el.classList.contains(expectedClass(row)), what);
      assert.equal(el.getAttribute("data-row"), row.id, what);
      assert.ok(!el.classList.contains("a3s-note"), `${what} fell through to the unknown-row fallback`);
    }
    const tool = rows.find((r) => r.kind === "tool" && r.name === "bash" && r.status === "ok");
    assert.ok(tool && tool.kind === "tool");
    assert.equal(renderRow(tool).querySelector(".a3s-tool-output")?.textContent, tool.output);
  });
}

test("the EventStream view follows the widget's wire messages to the committed rows", opts, () => {
  type Wire = { rows?: Row[]; rev?: number; status?: Status; msg?: InboundMsg };
  const wire = jsonl<Wire>("wire.jsonl");
  let rows: Row[] = [];
  let rev: number | undefined;
  let status: Status = { phase: "idle" };
  const view = new EventStreamView({ rows: () => rows, rowsRev: () => rev, status: () => status, pageSize: () => 1000 });
  document.body.append(view.el);
  // the same deltas, never pruned: what the live text was before each row replaced it
  const streamed = newLive();
  let sawLive = false;
  let sawStatus = false;
  let sawRowsMsg = false;
  for (const w of wire) {
    if (w.rows) {
      rows = w.rows;
      rev = w.rev;
      view.updateRows();
    } else if (w.status) {
      status = w.status;
      view.updateStatus();
      sawStatus ||= status.phase !== "idle";
    } else if (w.msg) {
      if (w.msg.kind === "delta") applyDelta(streamed, w.msg);
      sawRowsMsg ||= w.msg.kind === "rows";
      if (view.handleMessage(w.msg)) view.renderLive();
      sawLive ||= view.el.querySelector(".a3s-live") !== null;
    }
  }
  assert.ok(sawLive, "no streamed text was ever shown live");
  assert.ok(sawStatus, "no status line was ever shown");
  const final = json<Row[]>("rows.json");
  // the traits hold every row once the runs are over; the messages built the same rows
  assert.deepEqual(rows, final);
  assert.deepEqual(view.committedRows(), final);
  assert.ok(sawRowsMsg, "no row came through a rows message");
  // every committed row is on screen, in order, and no live text is left over
  const shown = [...view.el.querySelectorAll("[data-row]")].map((el) => el.getAttribute("data-row"));
  assert.deepEqual(shown, final.map((r) => r.id));
  assert.equal(view.el.querySelector(".a3s-live"), null);
  assert.equal(view.live.segs.size, 0);
  // the streamed deltas add up to the text Python committed
  let checked = 0;
  for (const row of final) {
    const seg = streamed.segs.get(row.id);
    if (!seg) continue;
    checked++;
    if (row.kind === "assistant") {
      assert.equal(seg.text ?? "", row.text, `assistant row ${row.id}`);
      assert.equal(seg.reasoning, row.reasoning, `assistant row ${row.id}`);
    } else if (row.kind === "tool") {
      assert.equal(seg.output, row.output, `tool row ${row.id}`);
    }
  }
  assert.ok(checked >= 3, `only ${checked} rows came from deltas`);
});

test("each approval card renders with its status and outcome", opts, () => {
  const cards = json<Card[]>("cards.json");
  assert.deepEqual(cards.map((c) => c.status), ["approved", "denied"]);
  const actions = { decide: () => undefined, removeRule: () => undefined, toLocal: (ms: number) => ms };
  for (const card of cards) {
    const { el } = renderCard(card, actions, new Map(), new Set());
    assert.ok(el.classList.contains(`a3s-card--${card.status}`), el.className);
    assert.equal(el.getAttribute("data-tool-id"), card.tool_id);
    assert.ok(card.diff, `no diff for ${card.tool_id}`);
    assert.ok(el.querySelector(".a3s-diff"), `no diff shown for ${card.tool_id}`);
    assert.equal(el.querySelector("button[data-decision]"), null, "a decided card offers buttons");
  }
  const denied = renderCard(cards[1] as Card, actions, new Map(), new Set()).el;
  assert.match(denied.querySelector(".a3s-card-title")?.textContent ?? "", /^Denied by user at .*: not b$/);
});

test("the task table, context bar and usage panel render the widgets' state", opts, () => {
  const tasks = json<TaskItem[]>("tasks.json");
  const table = renderTaskTable(tasks);
  assert.equal(table.querySelectorAll("tbody tr").length, tasks.length);
  assert.ok(table.querySelector('[data-task-id="1"].a3s-task--in_progress'));
  const context = json<ContextState>("context.json");
  assert.equal(context.compactions, 1);
  assert.match(renderContextBar(context).textContent ?? "", /compacted/i);
  const usage = json<UsageState>("usage.json");
  assert.ok(usage.calls > 0 && usage.last);
  assert.match(renderUsagePanel(usage).textContent ?? "", /scripted/i);
});
