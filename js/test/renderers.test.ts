import "./dom_env.js";
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { markPageTitle, orderCards, outcomeText, pendingBanner, renderCard, renderDiff, renderRules } from "../lib/approvals_view.js";
import { renderArgs } from "../lib/args.js";
import { EventStreamView, renderRow } from "../lib/event_stream_view.js";
import { costText, renderContextBar, renderHeader, renderMemoryTable, renderTaskTable, renderUsagePanel } from "../lib/panels.js";
import type { Card, Decision, Row, Status, UsageState } from "../lib/types.js";
import { cleanup } from "./dom_env.js";

afterEach(cleanup);

const XSS = '<img src=x onerror="globalThis.pwned=1"><script>globalThis.pwned=2</script>';

test("arguments: inline values, text blocks for multi-line strings, JSON for structures", () => {
  const el = renderArgs({ file_path: "a.md", content: "# A\nb\n", todos: Array.from({ length: 9 }, (_, i) => ({ id: i })) });
  const modes = [...el.querySelectorAll(".a3s-arg")].map((a) => a.className.replace("a3s-arg a3s-arg--", ""));
  assert.deepEqual(modes, ["inline", "text", "json"]);
  assert.equal(el.querySelector(".a3s-arg--text pre")?.textContent, "# A\nb\n");
});

test("tool rows show name, arguments, output and duration; exit codes only for bash", () => {
  const row: Row = {
    id: "r3",
    kind: "tool",
    tool_id: "t1",
    name: "ls",
    args: { path: "." },
    output: "a.txt\nb.txt",
    exit_code: 0,
    duration_ms: 12,
    status: "ok",
  };
  const el = renderRow(row);
  assert.equal(el.tagName, "DETAILS");
  assert.equal(el.querySelector(".a3s-tool-name")?.textContent, "ls");
  assert.equal(el.querySelector(".a3s-tool-args")?.textContent, ".");
  assert.equal(el.querySelector(".a3s-tool-meta")?.textContent, "12 ms");
  const bash = renderRow({ ...row, name: "bash", args: { command: "ls" } });
  assert.equal(bash.querySelector(".a3s-tool-meta")?.textContent, "exit 0 · 12 ms");
  assert.equal(el.querySelector(".a3s-tool-output")?.textContent, "a.txt\nb.txt");
  assert.equal(el.querySelector(".a3s-arg-key")?.textContent, "path");
  assert.equal(el.querySelector(".a3s-arg-val")?.textContent, ".");
  const failed = renderRow({ ...row, exit_code: 2, status: "error" });
  assert.ok(failed.classList.contains("a3s-tool--error"));
  const waiting = renderRow({ ...row, exit_code: undefined, duration_ms: undefined, output: undefined, status: "waiting" });
  assert.equal(waiting.querySelector(".a3s-tool-meta")?.textContent, "waiting for approval");
  assert.ok(waiting.querySelector(".a3s-icon--wait"));
});

test("a tool row shows its images, and nothing that is not a clean image", () => {
  const png = "iVBORw0KGgo=";
  const row: Row = {
    id: "r9",
    kind: "tool",
    tool_id: "t9",
    name: "python",
    output: "displayed to the user: image/png",
    exit_code: 0,
    status: "ok",
    media: [
      { mime: "image/png", data: png, alt: "<Figure size 640x480 with 1 Axes>" },
      { mime: "text/html", data: "PHNjcmlwdD4=", alt: "html" },
      { mime: "image/svg+xml", data: "x\" onerror=\"alert(1)", alt: "bad base64" },
      { mime: "image/svg+xml", data: "PHN2Zy8+", alt: "svg" },
    ],
  };
  const imgs = [...renderRow(row).querySelectorAll("img")];
  assert.deepEqual(
    imgs.map((i) => i.getAttribute("src")),
    [`data:image/png;base64,${png}`, "data:image/svg+xml;base64,PHN2Zy8+"],
  );
  assert.equal(imgs[0]?.getAttribute("alt"), "<Figure size 640x480 with 1 Axes>");
  assert.equal(imgs[0]?.getAttribute("onerror"), null);
});

test("model and tool text is never interpreted as HTML", () => {
  const rows: Row[] = [
    { id: "a", kind: "assistant", text: XSS },
    { id: "b", kind: "user", text: XSS },
    { id: "c", kind: "tool", tool_id: "t", name: XSS, args: { x: XSS }, output: XSS, exit_code: 0, status: "ok" },
    { id: "d", kind: "error", message: XSS },
    { id: "e", kind: "denied", tool_id: "t", tool_name: XSS, reason: XSS },
  ];
  for (const row of rows) {
    const el = renderRow(row);
    document.body.append(el);
    assert.equal(el.querySelector("img, script"), null, `row ${row.id} created markup`);
  }
  assert.equal((globalThis as Record<string, unknown>).pwned, undefined);
});

test("denials, errors, compactions, confirmations and the run's end are distinct rows", () => {
  const kinds: Array<[Row, string, RegExp]> = [
    [{ id: "1", kind: "denied", tool_id: "t", tool_name: "bash", reason: "deny rule (Bash(rm:*))" }, "a3s-notice--danger", /Permission denied: bash/],
    [{ id: "2", kind: "error", message: "boom" }, "a3s-notice--danger", /Error/],
    [{ id: "3", kind: "compacted", before_messages: 40, after_messages: 6, percent_before: 0.82 }, "a3s-notice--info", /40 → 6 messages \(was 82.0% full\)/],
    [{ id: "4", kind: "confirmation", tool_id: "t", tool_name: "write", outcome: "approved", decided_by: "user", rule_added: "write" }, "a3s-notice--ok", /write approved by user.*added rule write/],
    [{ id: "5", kind: "confirmation", tool_id: "t", tool_name: "write", outcome: "denied", decided_by: "user", reason: "not now" }, "a3s-notice--danger", /denied by user.*reason: not now/],
    [{ id: "6", kind: "confirmation", tool_id: "t", tool_name: "write", outcome: "timeout", action_taken: "rejected" }, "a3s-notice--warn", /timed out.*rejected by policy/],
    [{ id: "7", kind: "budget", message: "Budget reached" }, "a3s-notice--warn", /Budget reached/],
    [{ id: "9", kind: "security", action: "blocked", rule: "dangerous_command", where: "tool_call", message: "curl -d @file", tool_name: "bash" }, "a3s-notice--danger", /Blocked by the guard: bash.*dangerous_command · tool_call: curl -d @file/],
    [{ id: "11", kind: "note", topic: "memory", title: "2 memories recalled", detail: "for the prompt", tone: "info" }, "a3s-notice--info", /memory2 memories recalled.*for the prompt/],
    [{ id: "12", kind: "note", topic: "goal", title: "Goal achieved", tone: "ok" }, "a3s-topic--goal", /goalGoal achieved/],
    [{ id: "10", kind: "security", action: "redacted", rule: "email", where: "tool_output", message: "2 values redacted" }, "a3s-notice--warn", /Redacted by the guard.*email/],
  ];
  for (const [row, cls, text] of kinds) {
    const el = renderRow(row);
    assert.ok(el.classList.contains(cls), `${row.kind}: ${el.className}`);
    assert.match(el.textContent ?? "", text);
  }
  const folded = renderRow({ id: "13", kind: "note", topic: "context", title: "Injected 2 items", items: ["<img src=x onerror=alert(1)>", "b"] });
  assert.equal(folded.tagName, "DETAILS");
  assert.equal(folded.querySelectorAll("li").length, 2);
  assert.equal(folded.querySelector("img"), null, "items are text, never markup");
  assert.match(renderRow({ id: "8", kind: "end", turns: 5, total_tokens: 5737, estimated: true }).textContent ?? "", /5 LLM calls · 5,737 tokens \(estimated\)/);
});

function streamSource(rows: Row[], pageSize = 100, status: Status = { phase: "idle" }) {
  return { rows: () => rows, status: () => status, pageSize: () => pageSize };
}

test("the stream renders a bounded window with 'show earlier'", () => {
  const rows: Row[] = Array.from({ length: 250 }, (_, i) => ({ id: `r${i}`, kind: "user", text: `prompt ${i}` }) as Row);
  const view = new EventStreamView(streamSource(rows, 100));
  document.body.append(view.el);
  view.updateRows();
  assert.equal(view.el.querySelectorAll(".a3s-user").length, 100);
  const more = view.el.querySelector(".a3s-more") as HTMLButtonElement;
  assert.equal(more.hidden, false);
  assert.match(more.textContent ?? "", /Show 100 earlier rows \(150 hidden\)/);
  more.click();
  assert.equal(view.el.querySelectorAll(".a3s-user").length, 200);
  more.click();
  assert.equal(view.el.querySelectorAll(".a3s-user").length, 250);
  assert.equal(more.hidden, true);
});

test("streamed text shows live, then becomes the committed row", () => {
  const rows: Row[] = [{ id: "r1", kind: "user", text: "hi" }];
  const view = new EventStreamView(streamSource(rows));
  document.body.append(view.el);
  view.updateRows();
  assert.ok(view.handleMessage({ kind: "delta", seq: 1, parts: [{ seg: "r2", field: "text", text: "**Hel" }] }));
  view.renderLive();
  assert.equal(view.el.querySelectorAll(".a3s-live").length, 1);
  view.handleMessage({ kind: "delta", seq: 2, parts: [{ seg: "r2", field: "text", text: "lo**" }] });
  view.renderLive();
  assert.equal(view.el.querySelector(".a3s-live strong")?.textContent, "Hello");
  rows.push({ id: "r2", kind: "assistant", text: "**Hello**" });
  view.updateRows();
  assert.equal(view.el.querySelectorAll(".a3s-live").length, 0);
  assert.equal(view.el.querySelectorAll(".a3s-assistant strong").length, 1);
});

test("a running tool's output streams into its row", () => {
  const rows: Row[] = [{ id: "r5", kind: "tool", tool_id: "t", name: "bash", args: { command: "make" }, status: "running" }];
  const view = new EventStreamView(streamSource(rows));
  view.updateRows();
  view.handleMessage({ kind: "delta", seq: 1, parts: [{ seg: "r5", field: "output", text: "step 1\n" }] });
  view.renderLive();
  view.handleMessage({ kind: "delta", seq: 2, parts: [{ seg: "r5", field: "output", text: "step 2\n" }] });
  view.renderLive();
  assert.equal(view.el.querySelector(".a3s-tool-output")?.textContent, "step 1\nstep 2\n");
});

test("unchanged rows keep their DOM nodes; changed ones are rebuilt", () => {
  const rows: Row[] = [
    { id: "r1", kind: "user", text: "hi" },
    { id: "r2", kind: "tool", tool_id: "t", name: "ls", status: "running" },
  ];
  const view = new EventStreamView(streamSource(rows));
  view.updateRows();
  const first = view.el.querySelector('[data-row="r1"]');
  const tool = view.el.querySelector('[data-row="r2"]');
  rows[1] = { ...(rows[1] as Row), status: "ok", exit_code: 0, v: 1 } as Row;
  view.updateRows();
  assert.equal(view.el.querySelector('[data-row="r1"]'), first);
  assert.notEqual(view.el.querySelector('[data-row="r2"]'), tool);
});

test("status line says what the agent does", () => {
  const status: Status = { phase: "waiting", detail: "write", turn: 3 };
  const view = new EventStreamView(streamSource([], 100, status));
  view.updateStatus();
  const el = view.el.querySelector(".a3s-status") as HTMLElement;
  assert.equal(el.hidden, false);
  assert.match(el.textContent ?? "", /Waiting for your approval of write · turn 3/);
});

function card(over: Partial<Card> = {}): Card {
  return {
    tool_id: "call_1",
    tool_name: "write",
    args: { file_path: "notes.md", content: "# Notes\nhello\n" },
    reason: "no rule allows this tool (default: ask)",
    suggested_rule: "Write(notes.md)",
    timeout_ms: 30_000,
    created_at: Date.now(),
    deadline: Date.now() + 25_000,
    status: "pending",
    diff: { kind: "write", path: "notes.md", old: "", new: "# Notes\nhello\n", new_file: true },
    ...over,
  };
}

function recorder() {
  const calls: Array<[string, Decision, string]> = [];
  const removed: string[] = [];
  return {
    calls,
    removed,
    actions: {
      decide: (id: string, d: Decision, r: string) => calls.push([id, d, r]),
      removeRule: (rule: string) => removed.push(rule),
      toLocal: (x: number) => x,
    },
  };
}

test("a pending card shows why, a diff, a countdown and three buttons", () => {
  const rec = recorder();
  const { el } = renderCard(card(), rec.actions, new Map(), new Set());
  document.body.append(el);
  assert.match(el.querySelector(".a3s-card-why")?.textContent ?? "", /default: ask/);
  assert.match(el.querySelector(".a3s-diff-path")?.textContent ?? "", /new file notes.md/);
  assert.equal(el.querySelectorAll(".a3s-diff-line--add").length, 2);
  assert.match(el.querySelector(".a3s-countdown")?.textContent ?? "", /0:2[45] left/);
  // the content is in the diff, not repeated in the arguments
  assert.match(el.querySelector(".a3s-card-args")?.textContent ?? "", /content\(14 characters, see the diff\)/);
  const buttons = [...el.querySelectorAll("button")].map((b) => b.getAttribute("data-decision"));
  assert.deepEqual(buttons, ["approve", "deny", "always"]);
  // the rule "Always allow" adds is on the button before the click, never the bare tool
  const always = el.querySelector('button[data-decision="always"]');
  assert.match(always?.textContent ?? "", /Always allow Write\(notes\.md\)/);
});

test("a card with no narrow rule offers no Always allow and says why", () => {
  const rec = recorder();
  const { el } = renderCard(card({ tool_name: "bash", suggested_rule: null }), rec.actions, new Map(), new Set());
  const buttons = [...el.querySelectorAll("button")].map((b) => b.getAttribute("data-decision"));
  assert.deepEqual(buttons, ["approve", "deny"]);
  assert.match(el.querySelector(".a3s-card-norule")?.textContent ?? "", /not offered/);
});

test("clicks send the decision and the typed reason, then disable the card", () => {
  const rec = recorder();
  const reasons = new Map<string, string>();
  const sending = new Set<string>();
  const { el } = renderCard(card(), rec.actions, reasons, sending);
  document.body.append(el);
  const input = el.querySelector(".a3s-reason") as HTMLInputElement;
  input.value = "  not in this folder ";
  input.dispatchEvent(new window.Event("input") as unknown as Event);
  (el.querySelector('[data-decision="deny"]') as HTMLButtonElement).click();
  assert.deepEqual(rec.calls, [["call_1", "deny", "not in this folder"]]);
  assert.ok(sending.has("call_1"));
  assert.ok([...el.querySelectorAll("button")].every((b) => (b as HTMLButtonElement).disabled));
  // a re-render keeps the typed reason and the disabled state
  const again = renderCard(card(), rec.actions, reasons, sending).el;
  assert.equal((again.querySelector(".a3s-reason") as HTMLInputElement).value, "  not in this folder ");
  assert.match(again.textContent ?? "", /waiting for the kernel/);
});

test("decided cards say who decided what and when", () => {
  const at = new Date(2026, 0, 2, 14, 3, 12).getTime();
  assert.equal(outcomeText(card({ status: "approved", decided_by: "user", decided_at: at })), "Approved by user at 14:03:12");
  assert.equal(
    outcomeText(card({ status: "approved", decided_by: "user", decided_at: at, rule_added: "write" })),
    "Always allowed by user at 14:03:12: added allow rule write",
  );
  assert.equal(
    outcomeText(card({ status: "denied", decided_by: "user", decided_at: at, decision_reason: "no" })),
    "Denied by user at 14:03:12: no",
  );
  assert.equal(outcomeText(card({ status: "timeout", decided_at: at, action_taken: "rejected" })), "Timed out at 14:03:12: rejected by policy");
  const { el, tick } = renderCard(card({ status: "stale", notice: "This request is no longer pending" }), recorder().actions, new Map(), new Set());
  assert.equal(el.querySelectorAll("button").length, 0);
  assert.match(el.querySelector(".a3s-card-notice")?.textContent ?? "", /no longer pending/);
  assert.equal(tick(Date.now()), false);
});

test("edit diffs show hunks with line numbers", () => {
  const old = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n");
  const el = renderDiff({ kind: "edit", path: "a.py", old, new: old.replace("line 10", "LINE TEN") });
  assert.equal(el.querySelector(".a3s-diff-hunk")?.textContent, "@@ -7,7 +7,7 @@");
  const del = el.querySelector(".a3s-diff-line--del");
  assert.equal(del?.querySelector(".a3s-diff-no")?.textContent, "10");
  assert.equal(el.querySelector(".a3s-diff-stat--add")?.textContent, "+1");
});

test("allow rules are listed and removable; pending cards come first", () => {
  const rec = recorder();
  const el = renderRules({ allow: ["read", "write"], added: ["write"] }, rec.actions, true);
  assert.equal(el.querySelector(".a3s-chip--new")?.getAttribute("data-rule"), "write");
  (el.querySelector('[data-rule="read"] button') as HTMLButtonElement).click();
  assert.deepEqual(rec.removed, ["read"]);
  const ordered = orderCards([
    card({ tool_id: "old", status: "approved", decided_at: 5 }),
    card({ tool_id: "p2", created_at: 2 }),
    card({ tool_id: "p1", created_at: 1 }),
  ]);
  assert.deepEqual(
    ordered.map((c) => c.tool_id),
    ["p1", "p2", "old"],
  );
});

test("context bar: numbers, band colour and the threshold mark", () => {
  const el = renderContextBar({
    used_tokens: 170_000,
    max_tokens: 200_000,
    percent: 0.85,
    turns: 12,
    threshold: 0.8,
    auto_compact: true,
    compactions: 1,
  });
  assert.match(el.textContent ?? "", /170,000 \/ 200,000 tokens/);
  assert.match(el.textContent ?? "", /85.0%/);
  assert.match(el.textContent ?? "", /12 messages in history · compacted 1×/);
  assert.ok(el.querySelector(".a3s-bar-fill--danger"));
  assert.equal((el.querySelector(".a3s-bar-fill") as HTMLElement).style.width, "85.00%");
  assert.equal((el.querySelector(".a3s-bar-mark") as HTMLElement).style.left, "80.00%");
  const off = renderContextBar({ used_tokens: 1, max_tokens: 10, percent: 0.1, turns: 1, threshold: 0.8, auto_compact: false, compactions: 0 });
  assert.ok(off.querySelector(".a3s-bar-mark--off"));
  assert.ok(off.querySelector(".a3s-bar-fill--ok"));
});

test("context bar: an estimate says so, a measure does not", () => {
  const base = { max_tokens: 200_000, turns: 3, threshold: 0.8, auto_compact: true, compactions: 0 };
  const est = renderContextBar({ ...base, used_tokens: 13_432, percent: 0.06716, measured_tokens: 932, estimated: true });
  const nums = est.querySelector(".a3s-context-nums") as HTMLElement;
  assert.equal(nums.textContent, "≈ 13,432 / 200,000 tokens (estimated)");
  assert.match(nums.title, /reported 932 tokens; the answer and messages since are estimated at 12,500/);
  assert.equal(est.querySelector(".a3s-bar")?.getAttribute("aria-valuenow"), "13432");
  const exact = renderContextBar({ ...base, used_tokens: 932, percent: 0.00466, measured_tokens: 932, estimated: false });
  assert.equal(exact.querySelector(".a3s-context-nums")?.textContent, "932 / 200,000 tokens");
  assert.equal(exact.querySelector(".a3s-context-nums")?.getAttribute("title"), null);
});

test("task table: status and priority per task", () => {
  const el = renderTaskTable([
    { id: "1", content: "Look", status: "completed", priority: "high" },
    { id: "2", content: "Write <b>notes</b>", status: "in_progress", priority: "medium" },
    { id: "3", content: "Report", status: "pending", priority: "low" },
  ]);
  assert.match(el.querySelector(".a3s-panel-head")?.textContent ?? "", /1\/3 done · 1 in progress/);
  assert.equal(el.querySelectorAll("tbody tr").length, 3);
  assert.equal(el.querySelector('[data-task-id="2"] .a3s-badge')?.textContent, "in progress");
  assert.equal(el.querySelector('[data-task-id="2"] b'), null);
  assert.match(renderTaskTable([]).textContent ?? "", /No tasks yet/);
});

function usage(over: Partial<UsageState> = {}): UsageState {
  return {
    calls: 2,
    prompt_tokens: 1000,
    completion_tokens: 200,
    total_tokens: 1200,
    cache_read_tokens: 0,
    cost_usd: null,
    unpriced_calls: 2,
    estimated: false,
    scripted: false,
    models: [
      {
        label: "openai/gpt-x",
        scripted: false,
        calls: 2,
        prompt_tokens: 1000,
        completion_tokens: 200,
        total_tokens: 1200,
        cache_read_tokens: 0,
        cost_usd: null,
        unpriced_calls: 2,
        estimated: false,
      },
    ],
    last: { label: "openai/gpt-x", latency_ms: 1234, ttft_ms: 210, prompt_tokens: 600, completion_tokens: 100 },
    budget: null,
    ...over,
  };
}

test("usage: unknown cost is never $0; scripted models are labelled; budget left", () => {
  const el = renderUsagePanel(usage());
  assert.match(el.textContent ?? "", /Cost.*unknown/);
  assert.doesNotMatch(el.textContent ?? "", /\$0/);
  assert.match(el.textContent ?? "", /Last call1.2 sfirst token 210 ms/);
  const scripted = renderUsagePanel(usage({ scripted: true, models: [{ ...usage().models[0]!, label: "scripted/demo", scripted: true }] }));
  assert.match(scripted.textContent ?? "", /no price \(scripted\)/);
  assert.ok(scripted.querySelector(".a3s-badge--scripted"));
  const budget = renderUsagePanel(usage({ cost_usd: 0.25, unpriced_calls: 0, budget: { cost_limit_usd: 1, cost_left_usd: 0.75, token_limit: 5000, tokens_left: 3800 } }));
  assert.match(budget.textContent ?? "", /Budget left\$0.75of \$1.00/);
  assert.match(budget.textContent ?? "", /Tokens left3,800of 5,000/);
  assert.equal(costText(0.5, 1, 3, false), "≥ $0.50 (1 call unpriced)");
});

test("header: name, model with scripted badge, state and phase", () => {
  const el = renderHeader(
    { name: "demo", id: "abc", model: "scripted/demo", scripted: true, state: "Active", workspace: "/tmp/x/y/ws" },
    { phase: "waiting", detail: "write" },
  );
  assert.equal(el.querySelector(".a3s-header-name")?.textContent, "demo");
  assert.ok(el.querySelector(".a3s-badge--scripted"));
  assert.ok(el.querySelector(".a3s-state--active"));
  assert.equal(el.querySelector(".a3s-phase")?.textContent, "waiting for approval of write");
  assert.equal(el.querySelector(".a3s-header-ws")?.textContent, "…/y/ws");
});

test("header: the tracked goal with its progress, or nothing without one", () => {
  const info = { name: "g", id: "g", model: "scripted/echo", scripted: true, state: "Active", workspace: "/w" };
  const running = renderHeader({ ...info, goal: { description: "<b>count</b> lines", progress: 0.4, achieved: false } }, { phase: "idle" });
  assert.equal(running.querySelector(".a3s-header-goal")?.textContent, "Goal: <b>count</b> lines · 40%");
  assert.equal(running.querySelector("b"), null);
  const done = renderHeader({ ...info, goal: { description: "x", progress: 1, achieved: true } }, { phase: "done" });
  assert.ok(done.querySelector(".a3s-header-goal--achieved"));
  assert.match(done.querySelector(".a3s-header-goal")?.textContent ?? "", /achieved$/);
  assert.equal(renderHeader({ ...info, goal: null }, { phase: "idle" }).querySelector(".a3s-header-goal"), null);
  assert.equal(renderHeader(info, { phase: "idle" }).querySelector(".a3s-header-goal"), null);
});

test("a python card shows its code as highlighted text, never as markup", () => {
  const rec = recorder();
  const code = "import os\n# count\nx = 1 + 2  # <img src=x onerror=alert(1)>\nprint('hi')";
  const { el } = renderCard(card({ tool_name: "python", args: { code }, diff: null, suggested_rule: null }), rec.actions, new Map(), new Set());
  const pre = el.querySelector("pre.a3s-code");
  assert.ok(pre, "no code block");
  assert.equal(pre?.textContent, code);
  assert.equal(el.querySelector("img"), null);
  assert.deepEqual([...el.querySelectorAll(".a3s-tok--kw")].map((t) => t.textContent), ["import"]);
  assert.ok(el.querySelector(".a3s-tok--str")?.textContent === "'hi'");
  assert.match(el.querySelector(".a3s-card-args")?.textContent ?? "", /see the code above/);
});

test("a pending approval says later cells wait, and marks the page title until decided", () => {
  assert.equal(pendingBanner(0), null);
  assert.match(pendingBanner(1)?.textContent ?? "", /Waiting for your approval below.*cells you run now wait too/);
  assert.match(pendingBanner(2)?.textContent ?? "", /approvals below/);
  assert.match(pendingBanner(1)?.textContent ?? "", /Reloading the page\? Save first.*%a3s_session pending\.$/);
  document.title = "Untitled.ipynb - JupyterLab";
  const a = {};
  const b = {};
  markPageTitle(a, true);
  markPageTitle(b, true);
  markPageTitle(a, true);
  assert.equal(document.title, "⏸ Approval needed · Untitled.ipynb - JupyterLab");
  markPageTitle(a, false);
  assert.equal(document.title, "⏸ Approval needed · Untitled.ipynb - JupyterLab", "b still waits");
  markPageTitle(b, false);
  assert.equal(document.title, "Untitled.ipynb - JupyterLab");
});

test("a task row nests its sub-agent's steps and answer, closed by default, as text only", () => {
  const row: Row = {
    id: "r9",
    kind: "tool",
    tool_id: "t9",
    name: "task",
    args: { description: "look", prompt: "look around" },
    output: "found it",
    exit_code: 0,
    status: "ok",
    subagent: { session_id: "c1", description: "look", agent: "explore" },
    children: [
      { kind: "tool", name: "ls", args: { path: "." }, text: "a.txt", status: "ok" },
      { kind: "tool", name: "read", args: { file_path: "x" }, text: "no", status: "error" },
      { kind: "answer", text: XSS, status: "ok" },
    ],
  };
  const el = renderRow(row) as HTMLDetailsElement;
  document.body.append(el);
  assert.equal(el.open, false);
  const block = el.querySelector(".a3s-subagent");
  assert.ok(block);
  assert.equal(block.querySelector(".a3s-label")?.textContent, "Sub-agent: look (explore, session c1)");
  const steps = [...block.querySelectorAll(".a3s-subagent-step .a3s-tool-name")].map((n) => n.textContent);
  assert.deepEqual(steps, ["ls", "read"]);
  assert.ok(block.querySelector(".a3s-subagent-step .a3s-icon--fail"));
  assert.equal(block.querySelector(".a3s-subagent-answer")?.textContent?.trim(), XSS);
  assert.equal(el.querySelector("img, script"), null);
});

test("the usage panel shows what sub-agents spent, included in the totals", () => {
  const u: UsageState = {
    calls: 5,
    prompt_tokens: 900,
    completion_tokens: 100,
    total_tokens: 1000,
    cache_read_tokens: 0,
    cost_usd: 0.5,
    unpriced_calls: 0,
    estimated: false,
    scripted: false,
    models: [],
    subagents: { sessions: 2, calls: 3, total_tokens: 600, cost_usd: 0.3, unpriced_calls: 0 },
  };
  const el = renderUsagePanel(u);
  const labels = [...el.querySelectorAll(".a3s-stat-label")].map((n) => n.textContent);
  assert.ok(labels.includes("Sub-agents"));
  assert.match(el.textContent ?? "", /2 sub-agents · 3 calls · 600 tokens \(in the totals\)/);
});

test("memory table: rows most relevant first, tags, counts, no HTML from content", () => {
  const el = renderMemoryTable(
    [
      { id: "a", content: `EUR ${XSS}`, type: "semantic", importance: 0.9, relevance: 0.93, tags: ["sales"], access_count: 2 },
      { id: "b", content: "plotly", type: "episodic", importance: 0.5, relevance: 0.65, tags: [], access_count: 0 },
    ],
    2,
    "/p/.a3s/memories/memories.jsonl",
  );
  assert.match(el.querySelector(".a3s-panel-head")?.textContent ?? "", /2 stored · \/p\/\.a3s/);
  assert.equal(el.querySelectorAll("tbody tr").length, 2);
  assert.equal(el.querySelector('[data-memory-id="a"] .a3s-muted')?.textContent, "sales");
  assert.equal(el.querySelector('[data-memory-id="a"] img'), null);
  assert.deepEqual(
    [...el.querySelectorAll('[data-memory-id="a"] .a3s-num')].map((td) => td.textContent),
    ["0.90", "0.93", "2"],
  );
  assert.match(renderMemoryTable([], 0, "").textContent ?? "", /No memories yet/);
});
