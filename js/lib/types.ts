/**
 * The shapes that cross the widget boundary: synced traits (durable state) and custom
 * messages (transient deltas, requests). They mirror a3s_notebook/widgets/_*.py; when
 * one side changes, change the other.
 */

/** Traits every a3s widget has. */
export interface BaseTraits {
  /** Errors raised by Python handlers, shown beside the widget. */
  errors: string[];
}

// --- EventStream ---------------------------------------------------------------------

export type RowKind =
  | "user"
  | "assistant"
  | "tool"
  | "denied"
  | "error"
  | "compacted"
  | "confirmation"
  | "budget"
  | "security"
  | "end";

export interface RowBase {
  /** Stable id; a streaming segment keeps its id when it is committed as a row. */
  id: string;
  kind: RowKind;
  /** Bumped by Python each time the row changes (a tool row finishing), for DOM caching. */
  v?: number;
  /** Kernel time in epoch milliseconds. */
  ts?: number;
}

export interface UserRow extends RowBase {
  kind: "user";
  text: string;
}

export interface AssistantRow extends RowBase {
  kind: "assistant";
  text: string;
  reasoning?: string;
}

export interface ToolRow extends RowBase {
  kind: "tool";
  tool_id: string;
  name: string;
  args?: Record<string, unknown> | null;
  output?: string;
  output_truncated?: boolean;
  exit_code?: number | null;
  duration_ms?: number | null;
  status: "running" | "waiting" | "ok" | "error";
}

export interface DeniedRow extends RowBase {
  kind: "denied";
  tool_id: string;
  tool_name: string;
  args?: Record<string, unknown>;
  reason: string;
}

export interface ErrorRow extends RowBase {
  kind: "error";
  message: string;
}

export interface CompactedRow extends RowBase {
  kind: "compacted";
  before_messages: number;
  after_messages: number;
  percent_before: number;
}

export interface ConfirmationRow extends RowBase {
  kind: "confirmation";
  tool_id: string;
  tool_name: string;
  outcome: "requested" | "approved" | "denied" | "timeout";
  decided_by?: string | null;
  reason?: string | null;
  rule_added?: string | null;
  action_taken?: string | null;
}

export interface BudgetRow extends RowBase {
  kind: "budget";
  message: string;
}

/** The security guard or the secret filter acted (a distinct row: what, which rule). */
export interface SecurityRow extends RowBase {
  kind: "security";
  action: "blocked" | "redacted" | "flagged" | "asked";
  rule: string;
  where: string;
  message: string;
  tool_name?: string | null;
}

export interface EndRow extends RowBase {
  kind: "end";
  turns?: number;
  total_tokens?: number;
  estimated?: boolean;
}

export type Row =
  | UserRow
  | AssistantRow
  | ToolRow
  | DeniedRow
  | ErrorRow
  | CompactedRow
  | ConfirmationRow
  | BudgetRow
  | SecurityRow
  | EndRow;

export type Phase = "idle" | "running" | "thinking" | "writing" | "tool" | "waiting" | "done" | "error";

export interface Status {
  phase: Phase;
  detail?: string;
  turn?: number;
}

export interface EventStreamTraits extends BaseTraits {
  /** The most recent committed rows. */
  rows: Row[];
  /** Older committed rows, moved here in chunks so `rows` stays small to re-send. */
  archive: Row[];
  status: Status;
  /** How many rows a view renders at first; "show earlier" adds as many again. */
  page_size: number;
}

/** One piece of streamed text: append `text` to field `field` of segment `seg`. */
export interface DeltaPart {
  seg: string;
  field: "text" | "reasoning" | "output";
  text: string;
}

export interface DeltaMsg {
  kind: "delta";
  seq: number;
  parts: DeltaPart[];
}

export interface LiveSegment {
  text?: string;
  reasoning?: string;
  output?: string;
}

/** The whole uncommitted state, sent in reply to a view's "hello". */
export interface SnapshotMsg {
  kind: "snapshot";
  seq: number;
  live: Record<string, LiveSegment>;
}

export interface ClockMsg {
  kind: "clock";
  /** Kernel time in epoch milliseconds when the reply was made. */
  now: number;
}

export type InboundMsg = DeltaMsg | SnapshotMsg | ClockMsg;

// --- ContextBar ----------------------------------------------------------------------

export interface ContextState {
  used_tokens: number;
  max_tokens: number;
  /** 0..1 */
  percent: number;
  turns: number;
  /** 0..1, the auto-compaction threshold */
  threshold: number;
  auto_compact: boolean;
  compactions: number;
  last_compaction?: { before_messages: number; after_messages: number; percent_before: number } | null;
}

// --- TaskTable -----------------------------------------------------------------------

export type TaskStatus = "pending" | "in_progress" | "completed" | "failed" | "skipped" | "cancelled";

export interface TaskItem {
  id: string;
  content: string;
  status: TaskStatus | string;
  priority: "high" | "medium" | "low" | string;
}

// --- ApprovalCards -------------------------------------------------------------------

export type CardStatus = "pending" | "approved" | "denied" | "timeout" | "cancelled" | "stale";

export interface CardDiff {
  kind: "write" | "edit";
  path: string;
  old: string;
  new: string;
  new_file?: boolean;
  replace_all?: boolean;
  note?: string | null;
}

export interface Card {
  tool_id: string;
  tool_name: string;
  args: Record<string, unknown>;
  /** Why approval is needed: the matching ask rule, or the default decision. */
  reason?: string | null;
  /** The narrowest rule "Always allow" adds (shown on the button); none: not offered. */
  suggested_rule?: string | null;
  timeout_ms: number;
  /** Kernel epoch milliseconds. */
  created_at: number;
  deadline: number;
  status: CardStatus;
  decided_by?: string | null;
  decision_reason?: string | null;
  rule_added?: string | null;
  decided_at?: number | null;
  action_taken?: string | null;
  /** Set when a click arrived after the request stopped being pending. */
  notice?: string | null;
  diff?: CardDiff | null;
}

export interface RulesState {
  allow: string[];
  /** Rules added with "Always allow" from these cards (highlighted). */
  added: string[];
}

export type Decision = "approve" | "deny" | "always";

// --- UsagePanel ----------------------------------------------------------------------

export interface ModelUsage {
  label: string;
  scripted: boolean;
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cache_read_tokens: number;
  cost_usd: number | null;
  unpriced_calls: number;
  estimated: boolean;
}

export interface UsageState {
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cache_read_tokens: number;
  cost_usd: number | null;
  unpriced_calls: number;
  estimated: boolean;
  scripted: boolean;
  models: ModelUsage[];
  last?: {
    label: string;
    latency_ms: number | null;
    ttft_ms: number | null;
    prompt_tokens: number;
    completion_tokens: number;
  } | null;
  budget?: {
    cost_limit_usd?: number | null;
    cost_left_usd?: number | null;
    token_limit?: number | null;
    tokens_left?: number | null;
  } | null;
}

// --- Session header ------------------------------------------------------------------

export interface HeaderInfo {
  name: string;
  id: string;
  model: string;
  scripted: boolean;
  state: string;
  workspace: string;
}
