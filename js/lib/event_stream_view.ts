/**
 * Rendering of the EventStream: committed rows (cached by id and version, so a new row
 * does not rebuild the others), the live assistant text, running tools' output, a bounded
 * window of rows with "show earlier", and a status line.
 */
import { h, setChildren } from "./dom.js";
import { renderArgs } from "./args.js";
import { argsSummary, formatClock, formatDuration, formatInt, formatPercent, tail } from "./format.js";
import { renderMarkdown } from "./markdown.js";
import {
  applyDelta,
  applyRows,
  applySnapshot,
  type LiveState,
  newLive,
  newRows,
  pendingSegments,
  pruneCommitted,
  rowKey,
  type RowsState,
  setRows,
  visibleRows,
} from "./stream.js";
import type { InboundMsg, LiveSegment, Row, Status, ToolRow } from "./types.js";

/** Live tool output kept on screen; the full output arrives with the committed row. */
export const LIVE_OUTPUT_MAX = 20_000;

/** The status line: "Thinking…", "Running ls…", "Waiting for your approval of write". */
export function statusLine(s: Status): string {
  switch (s.phase) {
    case "running":
      return "Starting…";
    case "thinking":
      return "Thinking…";
    case "writing":
      return "Writing…";
    case "tool":
      return s.detail ? `Running ${s.detail}…` : "Running tools…";
    case "waiting":
      return s.detail ? `Waiting for your approval of ${s.detail}` : "Waiting for your approval";
    default:
      return "";
  }
}

function icon(kind: string, title?: string): HTMLElement {
  return h("span", { class: `a3s-icon a3s-icon--${kind}`, "aria-hidden": "true", title });
}

function markdownBlock(text: string, live = false): HTMLElement {
  const div = h("div", { class: `a3s-md${live ? " a3s-md--live" : ""}` });
  // safe: renderMarkdown escapes raw HTML and filters link protocols
  div.innerHTML = renderMarkdown(text);
  return div;
}

function reasoningBlock(text: string, open: boolean): HTMLElement {
  return h(
    "details",
    { class: "a3s-reasoning", open },
    h("summary", null, "Reasoning"),
    h("div", { class: "a3s-reasoning-text" }, text),
  );
}

export interface RowContext {
  /** Whether a collapsible row is open (kept across re-renders). */
  isOpen(id: string): boolean;
  setOpen(id: string, open: boolean): void;
  /** Live output of running tools, by row id. */
  liveOutput(id: string): string | undefined;
  /** Called with the <pre> that shows a running tool's output, to update it in place. */
  registerOutput?(id: string, pre: HTMLElement): void;
}

const defaultCtx: RowContext = {
  isOpen: () => false,
  setOpen: () => undefined,
  liveOutput: () => undefined,
};

function toolRow(row: ToolRow, ctx: RowContext): HTMLElement {
  const state = row.status;
  const meta: string[] = [];
  // exit codes belong to commands: a failed write says so by its mark and output
  if (row.name === "bash" && row.exit_code !== undefined && row.exit_code !== null) meta.push(`exit ${row.exit_code}`);
  if (row.duration_ms !== undefined && row.duration_ms !== null && state !== "running") {
    meta.push(formatDuration(row.duration_ms));
  }
  if (state === "running") meta.push("running");
  if (state === "waiting") meta.push("waiting for approval");
  const mark = state === "running" ? "spinner" : state === "waiting" ? "wait" : state === "ok" ? "ok" : "fail";
  const summary = h(
    "summary",
    { class: "a3s-tool-summary" },
    icon(mark, state),
    h("span", { class: "a3s-tool-name" }, row.name),
    h("span", { class: "a3s-tool-args" }, argsSummary(row.args)),
    h("span", { class: "a3s-tool-meta" }, meta.join(" · ")),
  );
  const output = state === "running" ? (ctx.liveOutput(row.id) ?? "") : (row.output ?? "");
  const outPre = h("pre", { class: "a3s-pre a3s-tool-output" }, state === "running" ? tail(output, LIVE_OUTPUT_MAX) : output);
  ctx.registerOutput?.(row.id, outPre);
  const body = h(
    "div",
    { class: "a3s-tool-body" },
    row.args ? h("div", { class: "a3s-label" }, "Arguments") : null,
    row.args ? renderArgs(row.args) : null,
    h("div", { class: "a3s-label" }, state === "running" ? "Output so far" : "Output"),
    outPre,
    row.output_truncated ? h("div", { class: "a3s-note" }, "Output truncated for display.") : null,
    ...mediaOf(row),
  );
  if (row.children && row.children.length) body.prepend(subagentBlock(row));
  const details = h(
    "details",
    { class: `a3s-row a3s-tool a3s-tool--${state}`, open: ctx.isOpen(row.id), "data-row": row.id },
    summary,
    body,
  );
  details.addEventListener("toggle", () => ctx.setOpen(row.id, details.open));
  return details;
}

const MEDIA_TYPES = new Set(["image/png", "image/jpeg", "image/svg+xml"]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The images of a tool call, as <img> elements (only image types and clean base64: an
 * <img> cannot run code, and nothing else is ever turned into markup). */
export function mediaOf(row: ToolRow): HTMLElement[] {
  const out: HTMLElement[] = [];
  for (const m of row.media ?? []) {
    if (!MEDIA_TYPES.has(m.mime ?? "") || !BASE64.test(m.data ?? "")) continue;
    out.push(
      h("img", { class: "a3s-tool-media", src: `data:${m.mime};base64,${m.data}`, alt: m.alt || "image from the tool call", loading: "lazy" }),
    );
  }
  return out;
}

/** A `task` row's sub-agent: one compact line per tool call, then its answer. */
function subagentBlock(row: ToolRow): HTMLElement {
  const sub = row.subagent;
  const lines = (row.children ?? []).map((c) => {
    const mark = c.status === "running" ? "spinner" : c.status === "ok" ? "ok" : "fail";
    return c.kind === "tool"
      ? h(
          "li",
          { class: "a3s-subagent-step" },
          icon(mark, c.status),
          h("span", { class: "a3s-tool-name" }, c.name ?? "tool"),
          " ",
          h("span", { class: "a3s-tool-args" }, argsSummary(c.args ?? null)),
        )
      : h("li", { class: "a3s-subagent-answer" }, icon(mark, c.status), " ", c.text ?? "");
  });
  return h(
    "div",
    { class: "a3s-subagent" },
    h("div", { class: "a3s-label" }, sub ? `Sub-agent: ${sub.description} (${sub.agent}, session ${sub.session_id})` : "Sub-agent"),
    h("ul", { class: "a3s-note-items" }, ...lines),
  );
}

/** Build the DOM of one committed row. */
export function renderRow(row: Row, ctx: RowContext = defaultCtx): HTMLElement {
  const title = row.ts ? formatClock(row.ts) : undefined;
  switch (row.kind) {
    case "user":
      return h(
        "div",
        { class: "a3s-row a3s-user", "data-row": row.id, title },
        h("div", { class: "a3s-who" }, "You"),
        h("div", { class: "a3s-user-text" }, row.text),
      );
    case "assistant": {
      const el = h("div", { class: "a3s-row a3s-assistant", "data-row": row.id, title });
      if (row.reasoning) {
        const r = reasoningBlock(row.reasoning, ctx.isOpen(row.id));
        r.addEventListener("toggle", () => ctx.setOpen(row.id, (r as HTMLDetailsElement).open));
        el.append(r);
      }
      if (row.text) el.append(markdownBlock(row.text));
      return el;
    }
    case "tool":
      return toolRow(row, ctx);
    case "denied": {
      const el = h(
        "details",
        { class: "a3s-row a3s-notice a3s-notice--danger", "data-row": row.id, title },
        h(
          "summary",
          null,
          icon("denied"),
          h("strong", null, `Permission denied: ${row.tool_name}`),
          h("span", { class: "a3s-notice-detail" }, row.reason),
        ),
        row.args ? renderArgs(row.args) : null,
      );
      return el;
    }
    case "error":
      return h(
        "div",
        { class: "a3s-row a3s-notice a3s-notice--danger", "data-row": row.id, title, role: "alert" },
        icon("fail"),
        h("strong", null, "Error"),
        h("span", { class: "a3s-notice-detail a3s-preline" }, row.message),
      );
    case "compacted":
      return h(
        "div",
        { class: "a3s-row a3s-notice a3s-notice--info", "data-row": row.id, title },
        icon("compact"),
        h("strong", null, "Context compacted"),
        h(
          "span",
          { class: "a3s-notice-detail" },
          `${formatInt(row.before_messages)} → ${formatInt(row.after_messages)} messages (was ${formatPercent(row.percent_before)} full)`,
        ),
      );
    case "confirmation": {
      const by = row.decided_by ? ` by ${row.decided_by}` : "";
      let cls = "info";
      let ic = "wait";
      let text: string;
      let detail = "";
      if (row.outcome === "requested") {
        text = `${row.tool_name} needs approval`;
        detail = row.reason ?? "";
      } else if (row.outcome === "approved") {
        cls = "ok";
        ic = "ok";
        text = `${row.tool_name} approved${by}`;
        if (row.rule_added) detail = `always allow: added rule ${row.rule_added}`;
      } else if (row.outcome === "denied") {
        cls = "danger";
        ic = "fail";
        text = `${row.tool_name} denied${by}`;
        detail = row.reason ? `reason: ${row.reason}` : "";
      } else {
        cls = "warn";
        ic = "timeout";
        text = `${row.tool_name}: approval timed out`;
        detail = row.action_taken === "auto_approved" ? "auto-approved by policy" : "rejected by policy";
      }
      return h(
        "div",
        { class: `a3s-row a3s-notice a3s-notice--${cls}`, "data-row": row.id, title },
        icon(ic),
        h("strong", null, text),
        detail ? h("span", { class: "a3s-notice-detail" }, detail) : null,
      );
    }
    case "budget":
      return h(
        "div",
        { class: "a3s-row a3s-notice a3s-notice--warn", "data-row": row.id, title, role: "alert" },
        icon("warn"),
        h("strong", null, "Budget reached"),
        h("span", { class: "a3s-notice-detail" }, row.message),
      );
    case "security": {
      const cls = row.action === "blocked" ? "danger" : "warn";
      const verb = { blocked: "Blocked", redacted: "Redacted", flagged: "Flagged", asked: "Needs approval" }[row.action];
      return h(
        "div",
        { class: `a3s-row a3s-notice a3s-notice--${cls} a3s-security`, "data-row": row.id, title, role: "status" },
        icon("shield"),
        h("strong", null, `${verb} by the guard${row.tool_name ? `: ${row.tool_name}` : ""}`),
        h("span", { class: "a3s-notice-detail" }, `${row.rule} · ${row.where}: ${row.message}`),
      );
    }
    case "hook": {
      const cls = row.decision === "deny" || row.decision === "block" ? "danger" : row.decision === "error" ? "warn" : "info";
      const verb = {
        allow: "Allowed",
        deny: "Denied",
        ask: "Needs approval",
        block: "Blocked",
        rewrite: "Rewritten",
        error: "Failed",
      }[row.decision];
      return h(
        "div",
        { class: `a3s-row a3s-notice a3s-notice--${cls} a3s-hook`, "data-row": row.id, title, role: "status" },
        icon("shield"),
        h("strong", null, `${verb} by hook ${row.hook}${row.tool_name ? `: ${row.tool_name}` : ""}`),
        h("span", { class: "a3s-notice-detail" }, `${row.event}${row.reason ? `: ${row.reason}` : ""}`),
      );
    }
    case "note": {
      const tone = row.tone ?? "info";
      const cls = `a3s-row a3s-notice a3s-notice--${tone} a3s-note-row a3s-topic--${row.topic}`;
      const head = [
        h("span", { class: "a3s-topic" }, row.topic),
        h("strong", null, row.title),
        row.detail ? h("span", { class: "a3s-notice-detail" }, row.detail) : null,
      ];
      if (!row.items || row.items.length === 0) {
        return h("div", { class: cls, "data-row": row.id, title, role: "status" }, ...head);
      }
      return h(
        "details",
        { class: cls, "data-row": row.id, title },
        h("summary", null, ...head),
        h("ul", { class: "a3s-note-items" }, ...row.items.map((item) => h("li", null, item))),
      );
    }
    case "end": {
      const parts = ["run finished"];
      if (row.turns) parts.push(`${row.turns} LLM call${row.turns === 1 ? "" : "s"}`);
      if (row.total_tokens !== undefined) parts.push(`${formatInt(row.total_tokens)} tokens${row.estimated ? " (estimated)" : ""}`);
      return h("div", { class: "a3s-row a3s-end", "data-row": row.id, title }, parts.join(" · "));
    }
    default: {
      const unknown = row as { id: string; kind: string };
      return h("div", { class: "a3s-row a3s-note", "data-row": unknown.id }, `(${unknown.kind})`);
    }
  }
}

/** Build the provisional row of an assistant message that is still streaming. */
export function renderLiveSegment(id: string, seg: LiveSegment): HTMLElement {
  const el = h("div", { class: "a3s-row a3s-assistant a3s-live", "data-live": id });
  if (seg.reasoning) el.append(reasoningBlock(seg.reasoning, true));
  el.append(markdownBlock(seg.text ?? "", true));
  return el;
}

export interface StreamModel {
  /** Every committed row the traits hold (archive, then rows). */
  rows(): Row[];
  /** The revision of those rows; undefined (state saved before revisions existed, a
   * source without them): the traits always win. */
  rowsRev?(): number | undefined;
  status(): Status;
  pageSize(): number;
  /** Ask Python for a snapshot (a "rows" message showed a gap). */
  requestSnapshot?(): void;
}

/** The whole EventStream view; `update*` methods are called from model events. */
export class EventStreamView {
  readonly el: HTMLElement;
  readonly live: LiveState = newLive();
  readonly committed: RowsState = newRows();
  private awaitingSnapshot = false;
  private rowsDirty = false;
  private readonly scroll: HTMLElement;
  private readonly list: HTMLElement;
  private readonly more: HTMLButtonElement;
  private readonly statusEl: HTMLElement;
  private readonly cache = new Map<string, HTMLElement>();
  private readonly open = new Set<string>();
  private readonly outputs = new Map<string, HTMLElement>();
  private liveNodes = new Map<string, HTMLElement>();
  private limit: number;
  private rows: Row[] = [];
  private rowIds = new Set<string>();

  constructor(private readonly source: StreamModel) {
    this.limit = source.pageSize();
    this.more = h("button", { class: "a3s-btn a3s-btn--link a3s-more", type: "button" }) as HTMLButtonElement;
    this.more.addEventListener("click", () => {
      this.limit += this.source.pageSize();
      this.renderRows(false);
    });
    this.list = h("div", { class: "a3s-rows", role: "log", "aria-live": "polite" });
    this.scroll = h("div", { class: "a3s-events-scroll" }, this.more, this.list);
    this.statusEl = h("div", { class: "a3s-status", hidden: true });
    this.el = h("div", { class: "a3s-events-inner" }, this.scroll, this.statusEl);
  }

  /** Committed rows changed (trait update): taken when newer than what the view has. */
  updateRows(): void {
    const rev = this.source.rowsRev?.() ?? this.committed.rev + 1;
    if (!setRows(this.committed, this.source.rows(), rev)) return;
    this.rowsChanged();
    this.renderRows(true);
  }

  /** The committed rows the view shows (a copy). */
  committedRows(): Row[] {
    return [...this.committed.rows];
  }

  /** The view will render; it has asked Python for a snapshot. */
  expectSnapshot(): void {
    this.awaitingSnapshot = true;
  }

  private rowsChanged(): void {
    this.rows = this.committed.rows;
    this.rowIds = new Set(this.rows.map((r) => r.id));
    pruneCommitted(this.live, this.rows);
  }

  updateStatus(): void {
    const s = this.source.status();
    const text = statusLine(s);
    this.statusEl.hidden = !text;
    if (!text) return;
    const turn = s.turn ? ` · turn ${s.turn}` : "";
    this.statusEl.replaceChildren(icon(s.phase === "waiting" ? "wait" : "spinner"), `${text}${turn}`);
  }

  /** A custom message from Python; returns true when something is to be rendered
   * (by `renderLive`, at most once per frame). */
  handleMessage(msg: InboundMsg): boolean {
    let changed = false;
    if (msg.kind === "delta") changed = applyDelta(this.live, msg);
    else if (msg.kind === "snapshot") {
      this.awaitingSnapshot = false;
      if (msg.rows !== undefined && msg.rev !== undefined && setRows(this.committed, msg.rows, msg.rev)) {
        this.rowsChanged();
        this.rowsDirty = true;
      }
      changed = applySnapshot(this.live, msg) || this.rowsDirty;
    } else if (msg.kind === "rows") {
      const result = applyRows(this.committed, msg);
      if (result === "gap" && !this.awaitingSnapshot) {
        this.awaitingSnapshot = true;
        this.source.requestSnapshot?.();
      }
      if (result === "applied") {
        this.rowsChanged();
        this.rowsDirty = true;
        changed = true;
      }
    }
    if (changed) pruneCommitted(this.live, this.rows);
    return changed;
  }

  private ctx(): RowContext {
    return {
      isOpen: (id) => this.open.has(id),
      setOpen: (id, open) => {
        if (open) this.open.add(id);
        else this.open.delete(id);
      },
      liveOutput: (id) => this.live.segs.get(id)?.output,
      registerOutput: (id, pre) => this.outputs.set(id, pre),
    };
  }

  private nearBottom(): boolean {
    const s = this.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }

  private stickToBottom(wasNear: boolean): void {
    if (wasNear) this.scroll.scrollTop = this.scroll.scrollHeight;
  }

  /** Rebuild the list from the cache; only new or changed rows are built. */
  renderRows(follow: boolean): void {
    this.rowsDirty = false;
    const wasNear = this.nearBottom();
    const { rows, hidden } = visibleRows(this.rows, this.limit);
    const ctx = this.ctx();
    const keep = new Set<string>();
    const nodes: HTMLElement[] = [];
    for (const row of rows) {
      const key = rowKey(row);
      keep.add(key);
      let node = this.cache.get(key);
      if (!node) {
        node = renderRow(row, ctx);
        this.cache.set(key, node);
      }
      nodes.push(node);
    }
    for (const key of [...this.cache.keys()]) if (!keep.has(key)) this.cache.delete(key);
    for (const id of [...this.outputs.keys()]) if (!this.rowIds.has(id)) this.outputs.delete(id);
    this.liveNodes = new Map();
    for (const [id, seg] of pendingSegments(this.live, this.rowIds)) {
      const node = renderLiveSegment(id, seg);
      this.liveNodes.set(id, node);
      nodes.push(node);
    }
    if (nodes.length === 0) {
      nodes.push(h("div", { class: "a3s-empty" }, "No events yet. Run a prompt and the agent's work appears here."));
    }
    setChildren(this.list, nodes);
    this.more.hidden = hidden === 0;
    this.more.textContent = hidden
      ? `Show ${formatInt(Math.min(hidden, this.source.pageSize()))} earlier rows (${formatInt(hidden)} hidden)`
      : "";
    this.stickToBottom(follow && wasNear);
  }

  /** Update only the streaming parts (called at most once per frame). */
  renderLive(): void {
    if (this.rowsDirty) {
      this.renderRows(true);
      return;
    }
    const wasNear = this.nearBottom();
    const pending = pendingSegments(this.live, this.rowIds);
    if (pending.length !== this.liveNodes.size || pending.some(([id]) => !this.liveNodes.has(id))) {
      this.renderRows(true);
      return;
    }
    for (const [id, seg] of pending) {
      const old = this.liveNodes.get(id);
      const node = renderLiveSegment(id, seg);
      if (old && old.parentNode) {
        // keep the reasoning block's open/closed state chosen by the user
        const oldDetails = old.querySelector("details");
        const newDetails = node.querySelector("details");
        if (oldDetails && newDetails) newDetails.open = oldDetails.open;
        old.parentNode.replaceChild(node, old);
      }
      this.liveNodes.set(id, node);
    }
    for (const [id, pre] of this.outputs) {
      const out = this.live.segs.get(id)?.output;
      if (out !== undefined) pre.textContent = tail(out, LIVE_OUTPUT_MAX);
    }
    this.stickToBottom(wasNear);
  }
}
