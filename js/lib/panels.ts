/**
 * The small panels: context bar, task table, usage panel and session header. Each is a
 * pure function of its trait value returning a fresh element (they are small, so they
 * are simply rebuilt on every change).
 */
import { band, clampFraction } from "./context.js";
import { h } from "./dom.js";
import { formatCost, formatDuration, formatInt, formatPercent } from "./format.js";
import type { ContextState, HeaderInfo, MemoryRow, ModelUsage, Status, TaskItem, UsageState } from "./types.js";

// --- ContextBar ----------------------------------------------------------------------

export function renderContextBar(c: ContextState): HTMLElement {
  const percent = c.percent ?? 0;
  const b = band(percent, c.threshold);
  const fill = h("div", { class: `a3s-bar-fill a3s-bar-fill--${b}` });
  fill.style.width = `${(clampFraction(percent) * 100).toFixed(2)}%`;
  const mark = h("div", {
    class: `a3s-bar-mark${c.auto_compact ? "" : " a3s-bar-mark--off"}`,
    title: c.auto_compact
      ? `Auto-compaction at ${formatPercent(c.threshold)}`
      : `Compaction threshold ${formatPercent(c.threshold)} (auto-compaction is off)`,
  });
  mark.style.left = `${(clampFraction(c.threshold) * 100).toFixed(2)}%`;
  const bar = h(
    "div",
    {
      class: "a3s-bar",
      role: "progressbar",
      "aria-label": "Context window used",
      "aria-valuemin": 0,
      "aria-valuemax": c.max_tokens,
      "aria-valuenow": c.used_tokens,
      "aria-valuetext": `${c.estimated ? "about " : ""}${formatInt(c.used_tokens)} of ${formatInt(c.max_tokens)} tokens (${formatPercent(percent)})`,
    },
    fill,
    mark,
  );
  const extra: string[] = [`${formatInt(c.turns)} message${c.turns === 1 ? "" : "s"} in history`];
  if (c.compactions) extra.push(`compacted ${c.compactions}×`);
  return h(
    "div",
    { class: `a3s-context a3s-band--${b}` },
    h(
      "div",
      { class: "a3s-context-line" },
      h("span", { class: "a3s-title" }, "Context"),
      h(
        "span",
        {
          class: `a3s-context-nums${c.estimated ? " a3s-context-nums--estimated" : ""}`,
          title: c.estimated ? estimateNote(c) : undefined,
        },
        c.estimated ? "≈ " : null,
        h("strong", null, formatInt(c.used_tokens)),
        ` / ${formatInt(c.max_tokens)} tokens`,
        c.estimated ? " (estimated)" : null,
      ),
      h("span", { class: `a3s-context-pct a3s-text--${b}` }, formatPercent(percent)),
      h("span", { class: "a3s-muted" }, extra.join(" · ")),
      h(
        "span",
        { class: "a3s-muted a3s-context-auto" },
        c.auto_compact ? `auto-compact at ${formatPercent(c.threshold)}` : "auto-compact off",
      ),
    ),
    bar,
  );
}

/** Why the figure is an estimate (the tooltip of the numbers). */
export function estimateNote(c: ContextState): string {
  const measured = c.measured_tokens ?? 0;
  if (c.used_tokens > measured) {
    return (
      `The last LLM call reported ${formatInt(measured)} tokens; the answer and messages since ` +
      `are estimated at ${formatInt(c.used_tokens - measured)} (the next call measures them).`
    );
  }
  return "The model reports no token counts: they are estimated at 4 characters a token.";
}

/** A table inside a box that scrolls sideways when the column is narrower than it. */
function scrollable(table: HTMLTableElement): HTMLElement {
  return h("div", { class: "a3s-table-wrap" }, table);
}

// --- TaskTable -----------------------------------------------------------------------

const STATUS_LABEL: Record<string, string> = {
  pending: "pending",
  in_progress: "in progress",
  completed: "done",
  failed: "failed",
  skipped: "skipped",
  cancelled: "cancelled",
};

const STATUS_ICON: Record<string, string> = {
  pending: "todo",
  in_progress: "spinner",
  completed: "ok",
  failed: "fail",
  skipped: "skip",
  cancelled: "skip",
};

export function renderTaskTable(tasks: TaskItem[]): HTMLElement {
  const done = tasks.filter((t) => t.status === "completed").length;
  const active = tasks.filter((t) => t.status === "in_progress").length;
  const failed = tasks.filter((t) => t.status === "failed").length;
  const summary: string[] = [`${done}/${tasks.length} done`];
  if (active) summary.push(`${active} in progress`);
  if (failed) summary.push(`${failed} failed`);
  const head = h(
    "div",
    { class: "a3s-panel-head" },
    h("span", { class: "a3s-title" }, "Tasks"),
    tasks.length ? h("span", { class: "a3s-muted" }, summary.join(" · ")) : null,
  );
  if (tasks.length === 0) {
    return h("div", { class: "a3s-tasks" }, head, h("div", { class: "a3s-empty" }, "No tasks yet. The agent's plan appears here."));
  }
  const rows = tasks.map((t) =>
    h(
      "tr",
      { class: `a3s-task a3s-task--${t.status}`, "data-task-id": t.id },
      h(
        "td",
        { class: "a3s-task-status" },
        h("span", { class: `a3s-icon a3s-icon--${STATUS_ICON[t.status] ?? "todo"}`, "aria-hidden": "true" }),
        h("span", { class: `a3s-badge a3s-badge--${t.status}` }, STATUS_LABEL[t.status] ?? t.status),
      ),
      h("td", { class: "a3s-task-content" }, t.content),
      h("td", { class: "a3s-task-priority" }, h("span", { class: `a3s-prio a3s-prio--${t.priority}` }, t.priority)),
    ),
  );
  return h(
    "div",
    { class: "a3s-tasks" },
    head,
    scrollable(h(
      "table",
      { class: "a3s-table" },
      h("thead", null, h("tr", null, h("th", null, "Status"), h("th", null, "Task"), h("th", null, "Priority"))),
      h("tbody", null, ...rows),
    )),
  );
}

// --- UsagePanel ----------------------------------------------------------------------

/** Cost text: unknown prices never read as $0; scripted models have no price at all. */
export function costText(cost: number | null, unpriced: number, calls: number, scripted: boolean): string {
  if (calls === 0) return "–";
  if (cost === null) return scripted ? "no price (scripted)" : "unknown";
  if (unpriced > 0) return `≥ ${formatCost(cost)} (${unpriced} call${unpriced === 1 ? "" : "s"} unpriced)`;
  return formatCost(cost);
}

function stat(label: string, value: string, sub?: string | null, cls = ""): HTMLElement {
  return h(
    "div",
    { class: `a3s-stat ${cls}` },
    h("div", { class: "a3s-stat-label" }, label),
    h("div", { class: "a3s-stat-value" }, value),
    sub ? h("div", { class: "a3s-stat-sub" }, sub) : null,
  );
}

function modelLabel(m: { label: string; scripted: boolean }): HTMLElement {
  return h(
    "span",
    { class: "a3s-model" },
    m.label,
    m.scripted ? h("span", { class: "a3s-badge a3s-badge--scripted", title: "An offline scripted model, not a real LLM" }, "scripted") : null,
  );
}

export function renderUsagePanel(u: UsageState): HTMLElement {
  const est = u.estimated ? " (estimated)" : "";
  const stats: HTMLElement[] = [
    stat("Tokens", formatInt(u.total_tokens), `${formatInt(u.prompt_tokens)} in · ${formatInt(u.completion_tokens)} out${est}`),
    stat("Cost", costText(u.cost_usd, u.unpriced_calls, u.calls, u.scripted), `${formatInt(u.calls)} LLM call${u.calls === 1 ? "" : "s"}`),
  ];
  if (u.last) {
    stats.push(
      stat(
        "Last call",
        formatDuration(u.last.latency_ms),
        u.last.ttft_ms !== null && u.last.ttft_ms !== undefined ? `first token ${formatDuration(u.last.ttft_ms)}` : null,
      ),
    );
  }
  const sa = u.subagents;
  if (sa && sa.calls) {
    stats.push(
      stat(
        "Sub-agents",
        costText(sa.cost_usd, sa.unpriced_calls, sa.calls, u.scripted),
        `${formatInt(sa.sessions)} sub-agent${sa.sessions === 1 ? "" : "s"} · ${formatInt(sa.calls)} call${sa.calls === 1 ? "" : "s"} · ${formatInt(sa.total_tokens)} tokens (in the totals)`,
      ),
    );
  }
  const b = u.budget;
  if (b && (b.cost_limit_usd !== undefined && b.cost_limit_usd !== null)) {
    const left = b.cost_left_usd;
    stats.push(
      stat(
        "Budget left",
        left === null || left === undefined ? "unknown" : formatCost(Math.max(0, left)),
        `of ${formatCost(b.cost_limit_usd)}`,
        left !== null && left !== undefined && left <= 0 ? "a3s-stat--danger" : "",
      ),
    );
  }
  if (b && b.token_limit !== undefined && b.token_limit !== null) {
    const left = b.tokens_left ?? 0;
    stats.push(
      stat("Tokens left", formatInt(Math.max(0, left)), `of ${formatInt(b.token_limit)}`, left <= 0 ? "a3s-stat--danger" : ""),
    );
  }
  const head = h("div", { class: "a3s-panel-head" }, h("span", { class: "a3s-title" }, "Usage"));
  const parts: HTMLElement[] = [head, h("div", { class: "a3s-stats" }, ...stats)];
  if (u.models.length) {
    const row = (m: ModelUsage) =>
      h(
        "tr",
        null,
        h("td", null, modelLabel(m)),
        h("td", { class: "a3s-num" }, formatInt(m.calls)),
        h("td", { class: "a3s-num" }, formatInt(m.prompt_tokens)),
        h("td", { class: "a3s-num" }, formatInt(m.completion_tokens)),
        h("td", { class: "a3s-num" }, costText(m.cost_usd, m.unpriced_calls, m.calls, m.scripted)),
      );
    parts.push(
      scrollable(h(
        "table",
        { class: "a3s-table a3s-usage-models" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", null, "Model"),
            h("th", { class: "a3s-num" }, "Calls"),
            h("th", { class: "a3s-num" }, "In"),
            h("th", { class: "a3s-num" }, "Out"),
            h("th", { class: "a3s-num" }, "Cost"),
          ),
        ),
        h("tbody", null, ...u.models.map(row)),
      )),
    );
  }
  return h("div", { class: "a3s-usage" }, ...parts);
}

// --- Session header ------------------------------------------------------------------

/** The header's phase text: "thinking", "running ls", "waiting for approval of write". */
export function phaseLabel(s: Status): string {
  switch (s.phase) {
    case "running":
      return "starting";
    case "thinking":
      return "thinking";
    case "writing":
      return "writing";
    case "tool":
      return s.detail ? `running ${s.detail}` : "running tools";
    case "waiting":
      return s.detail ? `waiting for approval of ${s.detail}` : "waiting for approval";
    case "done":
      return "done";
    case "error":
      return s.detail ? `failed: ${s.detail}` : "failed";
    default:
      return "";
  }
}

/** The last two parts of a path: "/tmp/x/y/ws" -> "…/y/ws". */
export function shortPath(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts.length > 2 ? `…/${parts.slice(-2).join("/")}` : path;
}

export function renderHeader(info: HeaderInfo, status: Status): HTMLElement {
  const phase = phaseLabel(status);
  const busy = ["running", "thinking", "writing", "tool"].includes(status.phase);
  return h(
    "div",
    { class: "a3s-header" },
    h("span", { class: "a3s-header-name", title: `session id ${info.id}` }, info.name || info.id),
    modelLabel({ label: info.model, scripted: info.scripted }),
    h("span", { class: `a3s-badge a3s-state a3s-state--${info.state.toLowerCase()}`, title: "Session state" }, info.state),
    phase
      ? h(
          "span",
          { class: `a3s-phase a3s-phase--${status.phase}` },
          busy ? h("span", { class: "a3s-icon a3s-icon--spinner", "aria-hidden": "true" }) : null,
          phase,
        )
      : null,
    goalLabel(info.goal),
    h("span", { class: "a3s-header-ws a3s-muted", title: `workspace ${info.workspace}` }, shortPath(info.workspace)),
  );
}

/** "Goal: ... · 40%" (or "· achieved") in the header while a goal is tracked. */
export function goalLabel(goal: HeaderInfo["goal"]): HTMLElement | null {
  if (!goal) return null;
  const done = goal.achieved ? "achieved" : `${Math.round(goal.progress * 100)}%`;
  const cls = `a3s-header-goal a3s-muted${goal.achieved ? " a3s-header-goal--achieved" : ""}`;
  return h("span", { class: cls, title: `goal: ${goal.description}` }, `Goal: ${goal.description} · ${done}`);
}

// --- MemoryTable ---------------------------------------------------------------------

/** The agent's memories, most relevant first; `total` counts those not shown too. */
export function renderMemoryTable(rows: MemoryRow[], total: number, store: string): HTMLElement {
  const head = h(
    "div",
    { class: "a3s-panel-head" },
    h("span", { class: "a3s-title" }, "Memories"),
    h("span", { class: "a3s-muted" }, `${total} stored${store ? ` · ${store}` : ""}`),
  );
  if (rows.length === 0) {
    return h(
      "div",
      { class: "a3s-memories" },
      head,
      h("div", { class: "a3s-empty" }, "No memories yet. What the agent remembers appears here."),
    );
  }
  const body = rows.map((m) =>
    h(
      "tr",
      { class: "a3s-memory", "data-memory-id": m.id },
      h(
        "td",
        { class: "a3s-memory-content" },
        m.content,
        m.tags.length ? h("div", { class: "a3s-muted" }, m.tags.join(", ")) : null,
      ),
      h("td", null, m.type),
      h("td", { class: "a3s-num" }, m.importance.toFixed(2)),
      h("td", { class: "a3s-num" }, m.relevance.toFixed(2)),
      h("td", { class: "a3s-num" }, formatInt(m.access_count)),
    ),
  );
  return h(
    "div",
    { class: "a3s-memories" },
    head,
    scrollable(h(
      "table",
      { class: "a3s-table" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          h("th", null, "Memory"),
          h("th", null, "Type"),
          h("th", { class: "a3s-num" }, "Importance"),
          h("th", { class: "a3s-num" }, "Relevance"),
          h("th", { class: "a3s-num" }, "Recalled"),
        ),
      ),
      h("tbody", null, ...body),
    )),
  );
}
