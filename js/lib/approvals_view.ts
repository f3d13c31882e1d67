/**
 * Approval cards: one per confirmation request, with the reason, arguments, a diff for
 * write/edit, a countdown and the decision buttons; decided cards say who decided what
 * and when. The allow rules (including those added with "Always allow") are listed and
 * removable.
 */
import { type DiffLine, diffLines, diffStats, hunks } from "./diff.js";
import { h } from "./dom.js";
import { renderArgs } from "./args.js";
import { formatClock, formatCountdown, formatInt } from "./format.js";
import type { Card, CardDiff, Decision, RulesState } from "./types.js";

/** Lines of a new file shown before "… N more lines". */
export const NEW_FILE_MAX_LINES = 400;

export interface ApprovalActions {
  decide(toolId: string, decision: Decision, reason: string): void;
  removeRule(rule: string): void;
  /** Kernel epoch ms -> browser epoch ms. */
  toLocal(kernelMs: number): number;
}

function lineNo(n: number | undefined): HTMLElement {
  return h("span", { class: "a3s-diff-no" }, n === undefined ? "" : String(n));
}

function diffLine(l: DiffLine): HTMLElement {
  const cls = l.op === "+" ? "add" : l.op === "-" ? "del" : "ctx";
  return h(
    "div",
    { class: `a3s-diff-line a3s-diff-line--${cls}` },
    lineNo(l.a),
    lineNo(l.b),
    h("span", { class: "a3s-diff-op" }, l.op),
    h("span", { class: "a3s-diff-text" }, l.text),
  );
}

/** The diff block of a write or edit card. */
export function renderDiff(diff: CardDiff): HTMLElement {
  const lines = diffLines(diff.old, diff.new);
  const stats = diffStats(lines);
  const label =
    diff.kind === "write"
      ? diff.new_file
        ? `new file ${diff.path}`
        : `overwrite ${diff.path}`
      : `edit ${diff.path}${diff.replace_all ? " (all occurrences)" : ""}`;
  const head = h(
    "div",
    { class: "a3s-diff-head" },
    h("span", { class: "a3s-diff-path" }, label),
    h("span", { class: "a3s-diff-stat a3s-diff-stat--add" }, `+${formatInt(stats.added)}`),
    h("span", { class: "a3s-diff-stat a3s-diff-stat--del" }, `−${formatInt(stats.removed)}`),
  );
  const body = h("div", { class: "a3s-diff-body" });
  if (lines.length === 0 || (stats.added === 0 && stats.removed === 0)) {
    body.append(h("div", { class: "a3s-note" }, "No change to the text."));
  } else if (diff.new_file || diff.old === "") {
    const shown = lines.slice(0, NEW_FILE_MAX_LINES);
    body.append(...shown.map(diffLine));
    if (lines.length > shown.length) {
      body.append(h("div", { class: "a3s-note" }, `… ${formatInt(lines.length - shown.length)} more lines`));
    }
  } else {
    for (const hunk of hunks(lines)) {
      body.append(h("div", { class: "a3s-diff-hunk" }, hunk.header), ...hunk.lines.map(diffLine));
    }
  }
  return h(
    "div",
    { class: `a3s-diff${diff.new_file || diff.old === "" ? " a3s-diff--new" : ""}` },
    head,
    body,
    diff.note ? h("div", { class: "a3s-note" }, diff.note) : null,
  );
}

const CODE_TOOLS: Record<string, string> = { python: "code", propose_cell: "code" };
const PY_TOKENS =
  /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|\b(and|as|assert|async|await|break|class|continue|def|del|elif|else|except|False|finally|for|from|global|if|import|in|is|lambda|None|nonlocal|not|or|pass|raise|return|True|try|while|with|yield)\b|\b(\d[\d_]*(?:\.\d+)?)\b/g;

/** Python source as text nodes and token spans (never HTML: the code is the model's). */
export function highlightPython(code: string): HTMLElement {
  const out = h("code", { class: "a3s-code-body" });
  let last = 0;
  for (const m of code.matchAll(PY_TOKENS)) {
    const at = m.index ?? 0;
    if (at > last) out.append(document.createTextNode(code.slice(last, at)));
    const cls = m[1] ? "com" : m[2] ? "str" : m[3] ? "kw" : "num";
    out.append(h("span", { class: `a3s-tok a3s-tok--${cls}` }, m[0]));
    last = at + m[0].length;
  }
  if (last < code.length) out.append(document.createTextNode(code.slice(last)));
  return out;
}

/** The code a python / propose_cell call carries, shown as code on the card. */
function renderCode(card: Card): HTMLElement | null {
  const field = CODE_TOOLS[card.tool_name];
  const code = field ? card.args[field] : undefined;
  if (typeof code !== "string") return null;
  return h("pre", { class: "a3s-code", "aria-label": "Code to run" }, highlightPython(code));
}

/** Arguments without the ones the diff (or the code block) already shows. */
function displayArgs(card: Card): Record<string, unknown> {
  const field = CODE_TOOLS[card.tool_name];
  if (field && typeof card.args[field] === "string") {
    return { ...card.args, [field]: "(see the code above)" };
  }
  if (!card.diff) return card.args;
  const hidden = card.diff.kind === "write" ? ["content"] : ["old_string", "new_string"];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(card.args)) {
    out[k] = hidden.includes(k) && typeof v === "string" ? `(${formatInt(v.length)} characters, see the diff)` : v;
  }
  return out;
}

/** "Approved by user at 14:03:12" and friends. */
export function outcomeText(card: Card, toLocal: (ms: number) => number = (x) => x): string {
  const at = card.decided_at ? ` at ${formatClock(toLocal(card.decided_at))}` : "";
  const by = card.decided_by ? ` by ${card.decided_by}` : "";
  switch (card.status) {
    case "approved":
      return card.rule_added
        ? `Always allowed${by}${at}: added allow rule ${card.rule_added}`
        : `Approved${by}${at}`;
    case "denied":
      return `Denied${by}${at}${card.decision_reason ? `: ${card.decision_reason}` : ""}`;
    case "timeout":
      return `Timed out${at}: ${card.action_taken === "auto_approved" ? "auto-approved" : "rejected"} by policy`;
    case "cancelled":
      return `Cancelled${at}: the run stopped before a decision`;
    case "stale":
      return "No longer pending";
    default:
      return "";
  }
}

export interface CardHandle {
  el: HTMLElement;
  /** Update the countdown; returns false when the card is not pending. */
  tick(nowLocal: number): boolean;
}

/** Build one card. `reasons` keeps typed deny reasons across re-renders. */
export function renderCard(
  card: Card,
  actions: ApprovalActions,
  reasons: Map<string, string>,
  sending: Set<string>,
): CardHandle {
  const pending = card.status === "pending";
  const statusCls = pending ? (sending.has(card.tool_id) ? "sending" : "pending") : card.status;
  const countdown = h("span", { class: "a3s-countdown", title: "Time left before the timeout policy decides" });
  const head = h(
    "div",
    { class: "a3s-card-head" },
    h("span", { class: "a3s-icon a3s-icon--" + (pending ? "wait" : card.status === "approved" ? "ok" : card.status === "timeout" ? "timeout" : "fail") }),
    h("span", { class: "a3s-card-tool" }, card.tool_name),
    h("span", { class: "a3s-card-title" }, pending ? "needs your approval" : outcomeText(card, actions.toLocal)),
    pending ? countdown : null,
  );
  const why = h(
    "div",
    { class: "a3s-card-why" },
    h("span", { class: "a3s-label" }, "Why "),
    card.reason || "the permission policy asks for this tool",
  );
  const args = h(
    "details",
    { class: "a3s-card-args", open: !card.diff },
    h("summary", null, "Arguments"),
    renderArgs(displayArgs(card)),
  );
  const el = h(
    "div",
    { class: `a3s-card a3s-card--${statusCls}`, "data-tool-id": card.tool_id, role: "group", "aria-label": `Approval for ${card.tool_name}` },
    head,
    why,
    card.diff ? renderDiff(card.diff) : null,
    renderCode(card),
    args,
  );
  if (pending) {
    const reason = h("input", {
      class: "a3s-input a3s-reason",
      type: "text",
      placeholder: "Reason for a denial (optional; the model sees it)",
      "aria-label": "Reason for a denial",
      value: reasons.get(card.tool_id) ?? "",
    }) as HTMLInputElement;
    reason.addEventListener("input", () => reasons.set(card.tool_id, reason.value));
    const busy = sending.has(card.tool_id);
    const button = (decision: Decision, label: string, cls: string, title: string) => {
      const b = h("button", { class: `a3s-btn ${cls}`, type: "button", title, "data-decision": decision, disabled: busy }, label);
      b.addEventListener("click", () => {
        sending.add(card.tool_id);
        for (const other of el.querySelectorAll("button")) (other as HTMLButtonElement).disabled = true;
        el.classList.add("a3s-card--sending");
        actions.decide(card.tool_id, decision, reason.value.trim());
      });
      return b;
    };
    el.append(
      h(
        "div",
        { class: "a3s-card-actions" },
        reason,
        button("approve", "Approve", "a3s-btn--primary", "Run this tool call once"),
        button("deny", "Deny", "a3s-btn--danger", "Refuse this call; the reason is passed to the model"),
        ...(card.suggested_rule
          ? [button("always", `Always allow ${card.suggested_rule}`, "", `Approve, and add the allow rule "${card.suggested_rule}" to the session`)]
          : []),
      ),
    );
    if (!card.suggested_rule)
      el.append(h("div", { class: "a3s-note a3s-card-norule" }, "Always allow is not offered for this call: approve it once, or add a rule of your own."));
    if (busy) el.append(h("div", { class: "a3s-note a3s-card-sending" }, "Sent; waiting for the kernel…"));
  }
  if (card.notice) el.append(h("div", { class: "a3s-note a3s-card-notice", role: "status" }, card.notice));

  const tick = (nowLocal: number): boolean => {
    if (!pending) return false;
    const left = actions.toLocal(card.deadline) - nowLocal;
    countdown.textContent = left > 0 ? `${formatCountdown(left)} left` : "timing out…";
    countdown.classList.toggle("a3s-countdown--low", left < 10_000);
    return true;
  };
  tick(Date.now());
  return { el, tick };
}

/** The allow-rules footer. */
export function renderRules(rules: RulesState, actions: ApprovalActions, open: boolean): HTMLElement {
  const added = new Set(rules.added);
  const chips = rules.allow.map((rule) =>
    h(
      "span",
      { class: `a3s-chip${added.has(rule) ? " a3s-chip--new" : ""}`, "data-rule": rule },
      rule,
      h(
        "button",
        {
          class: "a3s-chip-x",
          type: "button",
          title: `Remove the allow rule ${rule}`,
          "aria-label": `Remove the allow rule ${rule}`,
          onclick: () => actions.removeRule(rule),
        },
        "×",
      ),
    ),
  );
  return h(
    "details",
    { class: "a3s-rules", open },
    h("summary", null, `Allow rules (${rules.allow.length})`),
    chips.length
      ? h("div", { class: "a3s-chips" }, ...chips)
      : h("div", { class: "a3s-note" }, "No allow rules: every tool the policy does not deny asks first."),
  );
}

/** Pending cards first (oldest first), then decided ones (newest first). */
export function orderCards(cards: Card[]): Card[] {
  const pending = cards.filter((c) => c.status === "pending").sort((a, b) => a.created_at - b.created_at);
  const done = cards.filter((c) => c.status !== "pending").sort((a, b) => (b.decided_at ?? b.created_at) - (a.decided_at ?? a.created_at));
  return [...pending, ...done];
}

/** The line under the panel's head while a card waits: the kernel is blocked on it. */
export function pendingBanner(pending: number): HTMLElement | null {
  if (pending === 0) return null;
  return h(
    "div",
    { class: "a3s-pending-banner", role: "status" },
    `Waiting for your approval${pending > 1 ? "s" : ""} below: the kernel is running this cell, so cells you run now wait too, until you decide or the approval times out.`,
    // a reloaded page has no output for this cell unless the notebook was saved
    h(
      "div",
      { class: "a3s-note" },
      "Reloading the page? Save first and the card comes back; otherwise right-click the notebook > New Subshell Console for Notebook and run %a3s_session pending.",
    ),
  );
}

const TITLE_MARK = "⏸ Approval needed · ";
const waitingViews = new Set<object>();

/**
 * Mark the page's title while any approval view on the page has a pending card (a user
 * in another tab or scrolled away sees why the kernel is busy); unmark when none has.
 */
export function markPageTitle(view: object, pending: boolean, doc: Document = document): void {
  if (pending) waitingViews.add(view);
  else waitingViews.delete(view);
  const marked = doc.title.startsWith(TITLE_MARK);
  if (waitingViews.size > 0 && !marked) doc.title = TITLE_MARK + doc.title;
  else if (waitingViews.size === 0 && marked) doc.title = doc.title.slice(TITLE_MARK.length);
}
