/**
 * The shapes that cross the widget boundary: synced traits (durable state) and custom
 * messages (transient deltas, requests). They mirror a3s_notebook/widgets/_*.py; when
 * one side changes, change the other.
 *
 * A field that carries an event's field as it is takes its type from the generated event
 * types (./events.gen.ts, from the Python event union's schema): when the Python side
 * renames, drops or retypes it, `tsc` fails here instead of the view drifting.
 */
import type {
  AgentEnd,
  BudgetExceeded,
  ConfirmationReceived,
  ConfirmationRequired,
  ConfirmationTimeout,
  ContextCompacted,
  ContextUsageUpdated,
  ErrorEvent as AgentErrorEvent,
  HookDecision,
  LlmCostRecord,
  PermissionDenied,
  SecurityEvent,
  Task,
  ToolEnd,
} from "./events.gen.js";

export type { TaskPriority, TaskStatus } from "./events.gen.js";

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
  | "hook"
  | "note"
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

/** A tool call: `tool_start`, then `tool_end` fills in the result. */
export interface ToolRow extends RowBase {
  kind: "tool";
  tool_id: ToolEnd["id"];
  name: ToolEnd["name"];
  args?: ToolEnd["args"];
  output?: ToolEnd["output"];
  output_truncated?: boolean;
  exit_code?: ToolEnd["exit_code"] | null;
  duration_ms?: ToolEnd["duration_ms"];
  /** Images the call produced (a figure drawn by `python`), base64 with an image type. */
  media?: ToolEnd["media"];
  status: "running" | "waiting" | "ok" | "error";
  /** A `task` call's sub-agent: its tool calls and answer (from `subagent_*` events). */
  children?: SubagentChildRow[];
  /** The sub-agent's session id and name, once it started. */
  subagent?: { session_id: string; description: string; agent: string };
}

/** One line of a sub-agent's progress inside its `task` tool row. */
export interface SubagentChildRow {
  kind: "tool" | "answer";
  /** The tool's name (kind "tool"). */
  name?: string;
  args?: Record<string, unknown> | null;
  /** Tool output head, or the sub-agent's answer. */
  text?: string;
  status: "running" | "ok" | "error";
}

/** A `permission_denied` event. */
export interface DeniedRow extends RowBase, Pick<PermissionDenied, "tool_id" | "tool_name" | "reason"> {
  kind: "denied";
  args?: PermissionDenied["args"];
}

/** An `error` event. */
export interface ErrorRow extends RowBase, Pick<AgentErrorEvent, "message"> {
  kind: "error";
}

/** The counts of a `context_compacted` event. */
export type CompactionCounts = Pick<ContextCompacted, "before_messages" | "after_messages" | "percent_before">;

export interface CompactedRow extends RowBase, CompactionCounts {
  kind: "compacted";
}

/** A confirmation's request (`confirmation_required`) or outcome (received, timeout). */
export interface ConfirmationRow
  extends RowBase,
    Pick<ConfirmationRequired, "tool_id" | "tool_name">,
    Pick<ConfirmationReceived, "decided_by" | "rule_added"> {
  kind: "confirmation";
  outcome: "requested" | "approved" | "denied" | "timeout";
  /** Why approval was asked (requested), or the reason given with a denial. */
  reason?: ConfirmationRequired["reason"] | ConfirmationReceived["reason"];
  action_taken?: ConfirmationTimeout["action_taken"] | null;
}

/** A `budget_exceeded` event. */
export interface BudgetRow extends RowBase, Pick<BudgetExceeded, "message"> {
  kind: "budget";
}

/** The security guard or the secret filter acted (a distinct row: what, which rule). */
export interface SecurityRow
  extends RowBase,
    Pick<SecurityEvent, "action" | "rule" | "where" | "message" | "tool_name"> {
  kind: "security";
}

/** A hook changed something (a `hook_decision` event): a distinct row. */
export interface HookRow
  extends RowBase,
    Pick<HookDecision, "hook" | "event" | "decision" | "reason" | "tool_id" | "tool_name"> {
  kind: "hook";
}

/** An `agent_end` event: the run's LLM calls and its summed usage. */
/**
 * A subsystem's notice (memory, context, plan, goal, sub-agent, queue...): one line with
 * a topic, a tone and an optional folded list. New subsystems add rows of this kind in
 * Python only; the front end needs no change.
 */
export interface NoteRow extends RowBase {
  kind: "note";
  /** What the row is about ("memory", "context", "plan", "goal", "subagent", "queue"...). */
  topic: string;
  title: string;
  detail?: string;
  tone?: "info" | "ok" | "warn" | "danger";
  /** Shown folded under the title (e.g. the memories injected into a prompt). */
  items?: string[];
}

export interface EndRow extends RowBase {
  kind: "end";
  turns?: number;
  total_tokens?: AgentEnd["usage"]["total_tokens"];
  estimated?: AgentEnd["usage"]["estimated"];
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
  | HookRow
  | NoteRow
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
  /** The revision `archive` + `rows` hold (absent in widget state saved by older versions). */
  rows_rev?: number;
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
  /** The rows' revision; `rows` is there when the traits are behind it (mid-run). */
  rev?: number;
  rows?: Row[];
}

/** One change to the committed rows. */
export type RowOp =
  | { op: "append"; row: Row }
  | { op: "update"; row: Row }
  | { op: "insert"; before: string; row: Row };

/** Row changes during a run; revision `rev` follows `rev - 1` (a gap means a lost base). */
export interface RowsMsg {
  kind: "rows";
  rev: number;
  ops: RowOp[];
}

export interface ClockMsg {
  kind: "clock";
  /** Kernel time in epoch milliseconds when the reply was made. */
  now: number;
}

export type InboundMsg = DeltaMsg | SnapshotMsg | RowsMsg | ClockMsg;

// --- ContextBar ----------------------------------------------------------------------

/** The last `context_usage` event (`percent` is 0..1) and the session's compaction settings. */
export interface ContextState extends Pick<ContextUsageUpdated, "used_tokens" | "max_tokens" | "percent" | "turns"> {
  /** 0..1, the auto-compaction threshold */
  threshold: number;
  auto_compact: boolean;
  compactions: number;
  last_compaction?: CompactionCounts | null;
  /** what the last LLM call reported (its prompt tokens); `used_tokens` adds what came since */
  measured_tokens?: number;
  /** `used_tokens` is (partly) an estimate: the last answer and later messages, 4 chars a token */
  estimated?: boolean;
}

// --- TaskTable -----------------------------------------------------------------------

/** A task of a `task_updated` event, with the fields the table shows (all written). */
export type TaskItem = Required<Pick<Task, "id" | "content" | "status" | "priority">>;

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

/**
 * One approval: the `confirmation_required` event's fields (`reason`: why approval is
 * needed; `suggested_rule`: the narrowest rule "Always allow" adds, none: not offered),
 * then the decision from `confirmation_received` or `confirmation_timeout`.
 */
export interface Card
  extends Pick<ConfirmationRequired, "tool_id" | "tool_name" | "args" | "reason" | "suggested_rule" | "timeout_ms">,
    Pick<ConfirmationReceived, "decided_by" | "rule_added"> {
  /** Kernel epoch milliseconds. */
  created_at: number;
  deadline: number;
  status: CardStatus;
  decision_reason?: ConfirmationReceived["reason"];
  decided_at?: number | null;
  action_taken?: ConfirmationTimeout["action_taken"] | null;
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
  /** The last LLM call's record (`usage_recorded`), as written. */
  last?:
    | ({ label: string } & Required<
        Pick<LlmCostRecord, "latency_ms" | "ttft_ms" | "prompt_tokens" | "completion_tokens">
      >)
    | null;
  /** The calls of this session's sub-agents, which the totals above include. */
  subagents?: {
    sessions: number;
    calls: number;
    total_tokens: number;
    cost_usd: number | null;
    unpriced_calls: number;
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
  /** The goal being tracked (goal_tracking), with its progress 0..1. */
  goal?: { description: string; progress: number; achieved: boolean } | null;
}

// --- MemoryTable ---------------------------------------------------------------------

/** One memory as the MemoryTable shows it (built by a3s_notebook/widgets/_memory_table.py). */
export interface MemoryRow {
  id: string;
  content: string;
  type: string;
  importance: number;
  relevance: number;
  tags: string[];
  access_count: number;
}
