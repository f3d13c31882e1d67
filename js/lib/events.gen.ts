// GENERATED FILE: do not edit by hand.
// The TypeScript view of the Python event union (a3s_notebook.engine.events.AgentEvent),
// from its JSON schema (pydantic, serialization mode: the JSON that Python writes).
// Regenerate with `.venv/bin/python js/gen_types.py`; `make lint` fails when this file is stale.

// --- nested models and enums ---------------------------------------------------------

/** A goal with success criteria and progress (0..1). */
export interface AgentGoal {
  description: string;
  success_criteria?: string[];
  progress?: number;
  achieved?: boolean;
  created_at?: number;
  achieved_at?: number | null;
}

/** How hard a plan is judged to be. */
export type Complexity = "Simple" | "Medium" | "Complex" | "VeryComplex";

/** A goal broken into steps. */
export interface ExecutionPlan {
  goal: string;
  steps?: Task[];
  complexity?: Complexity;
  required_tools?: string[];
  estimated_steps?: number;
}

/** One LLM call: who, what, how many tokens, what it cost and how long it took. */
export interface LlmCostRecord {
  session_id?: string | null;
  parent_id?: string | null;
  turn?: number | null;
  model?: string;
  provider?: string;
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
  reasoning_tokens?: number;
  cost_usd?: number | null;
  latency_ms?: number | null;
  ttft_ms?: number | null;
  timestamp?: string;
  tool_names?: string[];
  provenance?: Record<string, unknown> | null;
  estimated?: boolean;
  purpose?: string;
}

/** One message of the conversation. */
export interface Message {
  role: "user" | "assistant";
  content?: ContentBlock[];
  reasoning_content?: string | null;
}

/** One item of the agent's task list. */
export interface Task {
  id: string;
  content: string;
  status?: TaskStatus;
  priority?: TaskPriority;
  tool?: string | null;
  dependencies?: string[];
  success_criteria?: string | null;
}

/** Priority of a task; unknown values parse as medium. */
export type TaskPriority = "high" | "medium" | "low";

/** Status of a task. Parsing is lenient: `done` means completed, unknown means pending. */
export type TaskStatus = "pending" | "in_progress" | "completed" | "failed" | "skipped" | "cancelled";

/** Plain text in a message. */
export interface TextBlock {
  type: "text";
  text: string;
}

/** Extended thinking (Anthropic). Kept verbatim with its signature: the API wants it back. */
export interface ThinkingBlock {
  type: "thinking";
  thinking: string;
  signature?: string | null;
}

/** Tokens of one LLM call (or a sum of calls). */
export interface TokenUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  cache_read_tokens?: number | null;
  cache_write_tokens?: number | null;
  reasoning_tokens?: number | null;
  estimated?: boolean;
}

/** The result of a tool call, sent back to the model in a user-role message. */
export interface ToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content: string;
  is_error?: boolean;
}

/** The model asks for a tool call. */
export interface ToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input?: Record<string, unknown>;
}

/** Python's `a3s_notebook.llm.types.ContentBlock` (a union the schema inlines). */
export type ContentBlock = TextBlock | ThinkingBlock | ToolResultBlock | ToolUseBlock;

// --- events -------------------------------------------------------------------------

/** A run finished; `usage` is the sum over the run. */
export interface AgentEnd {
  type: "agent_end";
  text: string;
  usage: TokenUsage;
}

/** A run begins. */
export interface AgentStart {
  type: "agent_start";
  prompt: string;
}

/** A run was stopped before a call because a budget was used up (a port addition). */
export interface BudgetExceeded {
  type: "budget_exceeded";
  limit: string;
  limit_value: number;
  used: number;
  message: string;
}

/** A queued command failed for good. */
export interface CommandDeadLettered {
  type: "command_dead_lettered";
  command_id: string;
  command_type: string;
  lane: string;
  error: string;
  attempts: number;
}

/** A queued command is retried. */
export interface CommandRetry {
  type: "command_retry";
  command_id: string;
  command_type: string;
  lane: string;
  attempt: number;
  delay_ms: number;
}

/** The session's config changed (rules, policies, limits); carries the whole config. */
export interface ConfigChanged {
  type: "config_changed";
  config: Record<string, unknown>;
}

/** A human (or code) decided. */
export interface ConfirmationReceived {
  type: "confirmation_received";
  tool_id: string;
  approved: boolean;
  reason?: string | null;
  decided_by?: string | null;
  rule_added?: string | null;
}

/** A tool call waits for a human decision. */
export interface ConfirmationRequired {
  type: "confirmation_required";
  tool_id: string;
  tool_name: string;
  args: Record<string, unknown>;
  timeout_ms: number;
  reason?: string | null;
  suggested_rule?: string | null;
}

/** Nobody decided in time; the policy acted. */
export interface ConfirmationTimeout {
  type: "confirmation_timeout";
  tool_id: string;
  action_taken: "rejected" | "auto_approved";
}

/** Pending approvals were withdrawn (`cancel()`, an interrupt, a destroyed session). */
export interface ConfirmationsCancelled {
  type: "confirmations_cancelled";
  tool_ids: string[];
  reason: string;
}

/** History was compacted. */
export interface ContextCompacted {
  type: "context_compacted";
  session_id: string;
  before_messages: number;
  after_messages: number;
  percent_before: number;
}

/** Context providers answered. */
export interface ContextResolved {
  type: "context_resolved";
  total_items: number;
  total_tokens: number;
  items?: (Record<string, unknown>)[];
  failed?: Record<string, string>;
  truncated?: boolean;
}

/** Context providers are being queried. */
export interface ContextResolving {
  type: "context_resolving";
  providers: string[];
}

/** The context window usage changed (a port addition that widgets listen to). */
export interface ContextUsageUpdated {
  type: "context_usage";
  used_tokens: number;
  max_tokens: number;
  percent: number;
  turns: number;
}

/** A run failed, or something went wrong that the user should see. */
export interface ErrorEvent {
  type: "error";
  message: string;
}

/** An external handler finished a task. */
export interface ExternalTaskCompleted {
  type: "external_task_completed";
  task_id: string;
  session_id: string;
  success: boolean;
}

/** A lane handed a task to an external handler. */
export interface ExternalTaskPending {
  type: "external_task_pending";
  task_id: string;
  session_id: string;
  lane: string;
  command_type: string;
  payload: Record<string, unknown>;
  timeout_ms: number;
}

/** The goal was achieved. */
export interface GoalAchieved {
  type: "goal_achieved";
  goal: string;
  total_steps: number;
  duration_ms: number;
}

/** A goal was extracted from the prompt. */
export interface GoalExtracted {
  type: "goal_extracted";
  goal: AgentGoal;
}

/** Progress towards the goal. */
export interface GoalProgress {
  type: "goal_progress";
  goal: string;
  progress: number;
  completed_steps: number;
  total_steps: number;
}

/**
 * The history was replaced as a whole: a compaction, a clear, a fork's copy, or the rollback of a
 * prompt that failed before any answer.
 */
export interface HistoryReplaced {
  type: "history_replaced";
  reason: "compact" | "clear" | "fork" | "rollback";
  messages: Message[];
  used_tokens: number;
  cost_records?: LlmCostRecord[] | null;
  tasks?: Task[] | null;
}

/**
 * A hook changed something: allowed, denied or asked for a tool call, blocked a prompt, rewrote
 * arguments or an output, or failed (a port addition: the reference only returns the result to the
 * loop).
 */
export interface HookDecision {
  type: "hook_decision";
  hook: string;
  event: string;
  decision: "allow" | "deny" | "ask" | "block" | "rewrite" | "error";
  reason?: string | null;
  tool_id?: string | null;
  tool_name?: string | null;
}

/** Memory was searched. */
export interface MemoriesSearched {
  type: "memories_searched";
  query?: string | null;
  tags?: string[];
  result_count: number;
}

/** A memory tier was cleared. */
export interface MemoryCleared {
  type: "memory_cleared";
  tier: "long_term" | "short_term" | "working";
  count: number;
}

/** A memory item was recalled. */
export interface MemoryRecalled {
  type: "memory_recalled";
  memory_id: string;
  content: string;
  relevance: number;
}

/** A memory item was stored. */
export interface MemoryStored {
  type: "memory_stored";
  memory_id: string;
  memory_type: string;
  importance: number;
  tags: string[];
  content?: string | null;
}

/** A message joined the history (the user's prompt, an answer, tool results). */
export interface MessageAdded {
  type: "message_added";
  message: Message;
}

/** The session switched model (the key stays in memory). */
export interface ModelChanged {
  type: "model_changed";
  model: string;
  llm_config?: Record<string, unknown> | null;
}

/** A tool call was refused by a deny rule or a hook. */
export interface PermissionDenied {
  type: "permission_denied";
  tool_id: string;
  tool_name: string;
  args: Record<string, unknown>;
  reason: string;
}

/** Writing the session file failed; the session goes on in memory. */
export interface PersistenceFailed {
  type: "persistence_failed";
  session_id: string;
  operation: string;
  error: string;
}

/** A plan was made. */
export interface PlanningEnd {
  type: "planning_end";
  plan: ExecutionPlan;
  estimated_steps: number;
  error?: string | null;
}

/** Planning began. */
export interface PlanningStart {
  type: "planning_start";
  prompt: string;
}

/** The queue is under pressure. */
export interface QueueAlert {
  type: "queue_alert";
  level: string;
  alert_type: string;
  message: string;
}

/** Streamed reasoning / thinking text (transient; a later reference addition). */
export interface ReasoningDeltaEvent {
  type: "reasoning_delta";
  text: string;
}

/** The guard acted: a call or prompt blocked, a secret redacted, an injection flagged. */
export interface SecurityEvent {
  type: "security";
  action: "blocked" | "redacted" | "flagged" | "asked";
  rule: string;
  where: string;
  message: string;
  tool_id?: string | null;
  tool_name?: string | null;
}

/** The first line of every session log: who the session is and how it was set up. */
export interface SessionCreated {
  type: "session_created";
  session_id: string;
  format: number;
  created_at: number;
  model: string;
  llm_config?: Record<string, unknown> | null;
  config: Record<string, unknown>;
}

/** The session state changed (a port addition). */
export interface StateChanged {
  type: "state_changed";
  state: string;
  reason?: string | null;
}

/** A plan step ended. */
export interface StepEnd {
  type: "step_end";
  step_id: string;
  status: TaskStatus;
  step_number: number;
  total_steps: number;
}

/** A plan step began. */
export interface StepStart {
  type: "step_start";
  step_id: string;
  description: string;
  step_number: number;
  total_steps: number;
}

/** A child agent finished. */
export interface SubagentEnd {
  type: "subagent_end";
  task_id: string;
  session_id: string;
  agent: string;
  output: string;
  success: boolean;
}

/** A child agent reports progress. */
export interface SubagentProgress {
  type: "subagent_progress";
  task_id: string;
  session_id: string;
  status: string;
  metadata?: Record<string, unknown>;
}

/** A child agent started. */
export interface SubagentStart {
  type: "subagent_start";
  task_id: string;
  session_id: string;
  parent_session_id: string;
  agent: string;
  description: string;
}

/** The session's task list changed (the whole list). */
export interface TaskUpdated {
  type: "task_updated";
  session_id: string;
  tasks: Task[];
}

/** Streamed assistant text (transient: never persisted). */
export interface TextDeltaEvent {
  type: "text_delta";
  text: string;
}

/** A tool call finished (every executed or refused call emits one). */
export interface ToolEnd {
  type: "tool_end";
  id: string;
  name: string;
  output: string;
  exit_code: number;
  duration_ms?: number | null;
  args?: Record<string, unknown> | null;
  media?: (Record<string, string>)[] | null;
}

/** Streamed tool output, e.g. from bash (transient). */
export interface ToolOutputDelta {
  type: "tool_output_delta";
  id: string;
  name: string;
  delta: string;
}

/** The model announced a tool call. */
export interface ToolStart {
  type: "tool_start";
  id: string;
  name: string;
}

/** An LLM call finished; `usage` is this call's. */
export interface TurnEnd {
  type: "turn_end";
  turn: number;
  usage: TokenUsage;
}

/** An LLM call begins (1-based turn). */
export interface TurnStart {
  type: "turn_start";
  turn: number;
  tools?: string[] | null;
}

/** One LLM call was recorded in the cost ledger (a port addition). */
export interface UsageRecorded {
  type: "usage_recorded";
  record: LlmCostRecord;
}

/** Every event this version knows, told apart by `type`. */
export type AgentEvent =
  | AgentEnd
  | AgentStart
  | BudgetExceeded
  | CommandDeadLettered
  | CommandRetry
  | ConfigChanged
  | ConfirmationReceived
  | ConfirmationRequired
  | ConfirmationTimeout
  | ConfirmationsCancelled
  | ContextCompacted
  | ContextResolved
  | ContextResolving
  | ContextUsageUpdated
  | ErrorEvent
  | ExternalTaskCompleted
  | ExternalTaskPending
  | GoalAchieved
  | GoalExtracted
  | GoalProgress
  | HistoryReplaced
  | HookDecision
  | MemoriesSearched
  | MemoryCleared
  | MemoryRecalled
  | MemoryStored
  | MessageAdded
  | ModelChanged
  | PermissionDenied
  | PersistenceFailed
  | PlanningEnd
  | PlanningStart
  | QueueAlert
  | ReasoningDeltaEvent
  | SecurityEvent
  | SessionCreated
  | StateChanged
  | StepEnd
  | StepStart
  | SubagentEnd
  | SubagentProgress
  | SubagentStart
  | TaskUpdated
  | TextDeltaEvent
  | ToolEnd
  | ToolOutputDelta
  | ToolStart
  | TurnEnd
  | TurnStart
  | UsageRecorded;

/** An event's wire name. */
export type EventType = AgentEvent["type"];

/** The event of one type: `EventOf<"security">` is `SecurityEvent`. */
export type EventOf<T extends EventType> = Extract<AgentEvent, { type: T }>;

/** Every wire name this version knows. */
export const EVENT_TYPES = [
  "agent_end",
  "agent_start",
  "budget_exceeded",
  "command_dead_lettered",
  "command_retry",
  "config_changed",
  "confirmation_received",
  "confirmation_required",
  "confirmation_timeout",
  "confirmations_cancelled",
  "context_compacted",
  "context_resolved",
  "context_resolving",
  "context_usage",
  "error",
  "external_task_completed",
  "external_task_pending",
  "goal_achieved",
  "goal_extracted",
  "goal_progress",
  "history_replaced",
  "hook_decision",
  "memories_searched",
  "memory_cleared",
  "memory_recalled",
  "memory_stored",
  "message_added",
  "model_changed",
  "permission_denied",
  "persistence_failed",
  "planning_end",
  "planning_start",
  "queue_alert",
  "reasoning_delta",
  "security",
  "session_created",
  "state_changed",
  "step_end",
  "step_start",
  "subagent_end",
  "subagent_progress",
  "subagent_start",
  "task_updated",
  "text_delta",
  "tool_end",
  "tool_output_delta",
  "tool_start",
  "turn_end",
  "turn_start",
  "usage_recorded",
] as const;

/** Event types written to the session's log, one JSON line each. */
export const DURABLE_TYPES = [
  "agent_end",
  "agent_start",
  "budget_exceeded",
  "command_dead_lettered",
  "command_retry",
  "config_changed",
  "confirmation_received",
  "confirmation_required",
  "confirmation_timeout",
  "confirmations_cancelled",
  "context_compacted",
  "context_resolved",
  "context_resolving",
  "context_usage",
  "error",
  "external_task_completed",
  "external_task_pending",
  "goal_achieved",
  "goal_extracted",
  "goal_progress",
  "history_replaced",
  "hook_decision",
  "memories_searched",
  "memory_cleared",
  "memory_recalled",
  "memory_stored",
  "message_added",
  "model_changed",
  "permission_denied",
  "persistence_failed",
  "planning_end",
  "planning_start",
  "queue_alert",
  "security",
  "session_created",
  "state_changed",
  "step_end",
  "step_start",
  "subagent_end",
  "subagent_progress",
  "subagent_start",
  "task_updated",
  "tool_end",
  "tool_start",
  "turn_end",
  "turn_start",
  "usage_recorded",
] as const;

/** Event types that are never persisted (token and output deltas). */
export const TRANSIENT_TYPES = [
  "reasoning_delta",
  "text_delta",
  "tool_output_delta",
] as const;

/** Wire name -> the interface that describes it. */
const EVENT_DEFS: { readonly [T in EventType]: string } = {
  agent_end: "AgentEnd",
  agent_start: "AgentStart",
  budget_exceeded: "BudgetExceeded",
  command_dead_lettered: "CommandDeadLettered",
  command_retry: "CommandRetry",
  config_changed: "ConfigChanged",
  confirmation_received: "ConfirmationReceived",
  confirmation_required: "ConfirmationRequired",
  confirmation_timeout: "ConfirmationTimeout",
  confirmations_cancelled: "ConfirmationsCancelled",
  context_compacted: "ContextCompacted",
  context_resolved: "ContextResolved",
  context_resolving: "ContextResolving",
  context_usage: "ContextUsageUpdated",
  error: "ErrorEvent",
  external_task_completed: "ExternalTaskCompleted",
  external_task_pending: "ExternalTaskPending",
  goal_achieved: "GoalAchieved",
  goal_extracted: "GoalExtracted",
  goal_progress: "GoalProgress",
  history_replaced: "HistoryReplaced",
  hook_decision: "HookDecision",
  memories_searched: "MemoriesSearched",
  memory_cleared: "MemoryCleared",
  memory_recalled: "MemoryRecalled",
  memory_stored: "MemoryStored",
  message_added: "MessageAdded",
  model_changed: "ModelChanged",
  permission_denied: "PermissionDenied",
  persistence_failed: "PersistenceFailed",
  planning_end: "PlanningEnd",
  planning_start: "PlanningStart",
  queue_alert: "QueueAlert",
  reasoning_delta: "ReasoningDeltaEvent",
  security: "SecurityEvent",
  session_created: "SessionCreated",
  state_changed: "StateChanged",
  step_end: "StepEnd",
  step_start: "StepStart",
  subagent_end: "SubagentEnd",
  subagent_progress: "SubagentProgress",
  subagent_start: "SubagentStart",
  task_updated: "TaskUpdated",
  text_delta: "TextDeltaEvent",
  tool_end: "ToolEnd",
  tool_output_delta: "ToolOutputDelta",
  tool_start: "ToolStart",
  turn_end: "TurnEnd",
  turn_start: "TurnStart",
  usage_recorded: "UsageRecorded",
};

// --- runtime check -------------------------------------------------------------------

type Literal = string | number | boolean | null;
type Spec =
  | "string"
  | "integer"
  | "number"
  | "boolean"
  | "null"
  | "unknown"
  | { readonly ref: string }
  | { readonly enum: readonly Literal[] }
  | { readonly anyOf: readonly Spec[] }
  | { readonly array: Spec }
  | { readonly tuple: readonly Spec[] }
  | { readonly record: Spec | "never" }
  | { readonly object: Props };
/** Field name -> [required, spec]. */
type Props = { readonly [field: string]: readonly [boolean, Spec] };

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "string") {
    return `string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  }
  if (typeof x === "object") return "an object";
  return `${typeof x} ${String(x)}`;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function checkProps(x: unknown, props: Props, path: string): string | null {
  if (!isObject(x)) return `${path}: expected an object, got ${describe(x)}`;
  for (const [field, [required, spec]] of Object.entries(props)) {
    const value = x[field];
    if (value === undefined) {
      if (required) return `${path}.${field}: missing`;
      continue;
    }
    const problem = check(value, spec, `${path}.${field}`);
    if (problem !== null) return problem;
  }
  return null;
}

function check(x: unknown, spec: Spec, path: string): string | null {
  const bad = (what: string) => `${path}: expected ${what}, got ${describe(x)}`;
  switch (spec) {
    case "unknown":
      return null;
    case "string":
    case "boolean":
      return typeof x === spec ? null : bad(spec);
    case "number":
      return typeof x === "number" ? null : bad("a number");
    case "integer":
      return Number.isInteger(x) ? null : bad("an integer");
    case "null":
      return x === null ? null : bad("null");
  }
  if ("ref" in spec) {
    const def = DEFS[spec.ref];
    return def === undefined ? `${path}: no definition ${spec.ref}` : check(x, def, path);
  }
  if ("enum" in spec) {
    if (spec.enum.includes(x as Literal)) return null;
    return bad(spec.enum.map((v) => JSON.stringify(v)).join(" | "));
  }
  if ("anyOf" in spec) {
    const problems: string[] = [];
    for (const member of spec.anyOf) {
      const problem = check(x, member, path);
      if (problem === null) return null;
      problems.push(problem);
    }
    if (problems.length === 1) return problems[0] ?? null;
    return `${path}: matches no member (${problems.join("; ")})`;
  }
  if ("array" in spec) {
    if (!Array.isArray(x)) return bad("an array");
    for (let i = 0; i < x.length; i++) {
      const problem = check(x[i], spec.array, `${path}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  }
  if ("tuple" in spec) {
    if (!Array.isArray(x) || x.length !== spec.tuple.length) {
      return bad(`an array of ${spec.tuple.length}`);
    }
    for (let i = 0; i < x.length; i++) {
      const problem = check(x[i], spec.tuple[i] ?? "unknown", `${path}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  }
  if ("record" in spec) {
    if (!isObject(x)) return bad("an object");
    for (const [key, value] of Object.entries(x)) {
      if (spec.record === "never") return `${path}.${key}: unexpected field`;
      const problem = check(value, spec.record, `${path}.${key}`);
      if (problem !== null) return problem;
    }
    return null;
  }
  return checkProps(x, spec.object, path);
}

/**
 * Why `x` is not an `AgentEvent` of this version (the first problem found, with its path),
 * or null when it is one. Fields the schema does not know (a log line's `ts`) are allowed.
 */
export function validateAgentEvent(x: unknown): string | null {
  if (!isObject(x)) return `$: expected an event object, got ${describe(x)}`;
  const type = x.type;
  if (typeof type !== "string") return `$.type: expected a string, got ${describe(type)}`;
  const def = Object.hasOwn(EVENT_DEFS, type) ? EVENT_DEFS[type as EventType] : undefined;
  if (def === undefined) return `$.type: unknown event type ${JSON.stringify(type)}`;
  return check(x, { ref: def }, `$<${def}>`);
}

/** Whether `x` is a well-formed `AgentEvent`: a known `type` and every field of its type. */
export function isAgentEvent(x: unknown): x is AgentEvent {
  return validateAgentEvent(x) === null;
}

/** Whether `x` is a well-formed event of the given type. */
export function isEventOfType<T extends EventType>(x: unknown, type: T): x is EventOf<T> {
  return isObject(x) && x.type === type && validateAgentEvent(x) === null;
}

/** Every definition's spec, by name (generated from the schema's $defs). */
const DEFS: { readonly [name: string]: Spec } = {
  AgentEnd: {
    object: {
      type: [true, { enum: ["agent_end"] }],
      text: [true, "string"],
      usage: [true, { ref: "TokenUsage" }],
    },
  },
  AgentGoal: {
    object: {
      description: [true, "string"],
      success_criteria: [false, { array: "string" }],
      progress: [false, "number"],
      achieved: [false, "boolean"],
      created_at: [false, "integer"],
      achieved_at: [false, { anyOf: ["integer", "null"] }],
    },
  },
  AgentStart: {
    object: {
      type: [true, { enum: ["agent_start"] }],
      prompt: [true, "string"],
    },
  },
  BudgetExceeded: {
    object: {
      type: [true, { enum: ["budget_exceeded"] }],
      limit: [true, "string"],
      limit_value: [true, "number"],
      used: [true, "number"],
      message: [true, "string"],
    },
  },
  CommandDeadLettered: {
    object: {
      type: [true, { enum: ["command_dead_lettered"] }],
      command_id: [true, "string"],
      command_type: [true, "string"],
      lane: [true, "string"],
      error: [true, "string"],
      attempts: [true, "integer"],
    },
  },
  CommandRetry: {
    object: {
      type: [true, { enum: ["command_retry"] }],
      command_id: [true, "string"],
      command_type: [true, "string"],
      lane: [true, "string"],
      attempt: [true, "integer"],
      delay_ms: [true, "integer"],
    },
  },
  Complexity: { enum: ["Simple", "Medium", "Complex", "VeryComplex"] },
  ConfigChanged: {
    object: {
      type: [true, { enum: ["config_changed"] }],
      config: [true, { record: "unknown" }],
    },
  },
  ConfirmationReceived: {
    object: {
      type: [true, { enum: ["confirmation_received"] }],
      tool_id: [true, "string"],
      approved: [true, "boolean"],
      reason: [false, { anyOf: ["string", "null"] }],
      decided_by: [false, { anyOf: ["string", "null"] }],
      rule_added: [false, { anyOf: ["string", "null"] }],
    },
  },
  ConfirmationRequired: {
    object: {
      type: [true, { enum: ["confirmation_required"] }],
      tool_id: [true, "string"],
      tool_name: [true, "string"],
      args: [true, { record: "unknown" }],
      timeout_ms: [true, "integer"],
      reason: [false, { anyOf: ["string", "null"] }],
      suggested_rule: [false, { anyOf: ["string", "null"] }],
    },
  },
  ConfirmationTimeout: {
    object: {
      type: [true, { enum: ["confirmation_timeout"] }],
      tool_id: [true, "string"],
      action_taken: [true, { enum: ["rejected", "auto_approved"] }],
    },
  },
  ConfirmationsCancelled: {
    object: {
      type: [true, { enum: ["confirmations_cancelled"] }],
      tool_ids: [true, { array: "string" }],
      reason: [true, "string"],
    },
  },
  ContextCompacted: {
    object: {
      type: [true, { enum: ["context_compacted"] }],
      session_id: [true, "string"],
      before_messages: [true, "integer"],
      after_messages: [true, "integer"],
      percent_before: [true, "number"],
    },
  },
  ContextResolved: {
    object: {
      type: [true, { enum: ["context_resolved"] }],
      total_items: [true, "integer"],
      total_tokens: [true, "integer"],
      items: [false, { array: { record: "unknown" } }],
      failed: [false, { record: "string" }],
      truncated: [false, "boolean"],
    },
  },
  ContextResolving: {
    object: {
      type: [true, { enum: ["context_resolving"] }],
      providers: [true, { array: "string" }],
    },
  },
  ContextUsageUpdated: {
    object: {
      type: [true, { enum: ["context_usage"] }],
      used_tokens: [true, "integer"],
      max_tokens: [true, "integer"],
      percent: [true, "number"],
      turns: [true, "integer"],
    },
  },
  ErrorEvent: {
    object: {
      type: [true, { enum: ["error"] }],
      message: [true, "string"],
    },
  },
  ExecutionPlan: {
    object: {
      goal: [true, "string"],
      steps: [false, { array: { ref: "Task" } }],
      complexity: [false, { ref: "Complexity" }],
      required_tools: [false, { array: "string" }],
      estimated_steps: [false, "integer"],
    },
  },
  ExternalTaskCompleted: {
    object: {
      type: [true, { enum: ["external_task_completed"] }],
      task_id: [true, "string"],
      session_id: [true, "string"],
      success: [true, "boolean"],
    },
  },
  ExternalTaskPending: {
    object: {
      type: [true, { enum: ["external_task_pending"] }],
      task_id: [true, "string"],
      session_id: [true, "string"],
      lane: [true, "string"],
      command_type: [true, "string"],
      payload: [true, { record: "unknown" }],
      timeout_ms: [true, "integer"],
    },
  },
  GoalAchieved: {
    object: {
      type: [true, { enum: ["goal_achieved"] }],
      goal: [true, "string"],
      total_steps: [true, "integer"],
      duration_ms: [true, "integer"],
    },
  },
  GoalExtracted: {
    object: {
      type: [true, { enum: ["goal_extracted"] }],
      goal: [true, { ref: "AgentGoal" }],
    },
  },
  GoalProgress: {
    object: {
      type: [true, { enum: ["goal_progress"] }],
      goal: [true, "string"],
      progress: [true, "number"],
      completed_steps: [true, "integer"],
      total_steps: [true, "integer"],
    },
  },
  HistoryReplaced: {
    object: {
      type: [true, { enum: ["history_replaced"] }],
      reason: [true, { enum: ["compact", "clear", "fork", "rollback"] }],
      messages: [true, { array: { ref: "Message" } }],
      used_tokens: [true, "integer"],
      cost_records: [false, { anyOf: [{ array: { ref: "LlmCostRecord" } }, "null"] }],
      tasks: [false, { anyOf: [{ array: { ref: "Task" } }, "null"] }],
    },
  },
  HookDecision: {
    object: {
      type: [true, { enum: ["hook_decision"] }],
      hook: [true, "string"],
      event: [true, "string"],
      decision: [true, { enum: ["allow", "deny", "ask", "block", "rewrite", "error"] }],
      reason: [false, { anyOf: ["string", "null"] }],
      tool_id: [false, { anyOf: ["string", "null"] }],
      tool_name: [false, { anyOf: ["string", "null"] }],
    },
  },
  LlmCostRecord: {
    object: {
      session_id: [false, { anyOf: ["string", "null"] }],
      parent_id: [false, { anyOf: ["string", "null"] }],
      turn: [false, { anyOf: ["integer", "null"] }],
      model: [false, "string"],
      provider: [false, "string"],
      prompt_tokens: [false, "integer"],
      completion_tokens: [false, "integer"],
      total_tokens: [false, "integer"],
      cache_read_tokens: [false, "integer"],
      cache_write_tokens: [false, "integer"],
      reasoning_tokens: [false, "integer"],
      cost_usd: [false, { anyOf: ["number", "null"] }],
      latency_ms: [false, { anyOf: ["number", "null"] }],
      ttft_ms: [false, { anyOf: ["number", "null"] }],
      timestamp: [false, "string"],
      tool_names: [false, { array: "string" }],
      provenance: [false, { anyOf: [{ record: "unknown" }, "null"] }],
      estimated: [false, "boolean"],
      purpose: [false, "string"],
    },
  },
  MemoriesSearched: {
    object: {
      type: [true, { enum: ["memories_searched"] }],
      query: [false, { anyOf: ["string", "null"] }],
      tags: [false, { array: "string" }],
      result_count: [true, "integer"],
    },
  },
  MemoryCleared: {
    object: {
      type: [true, { enum: ["memory_cleared"] }],
      tier: [true, { enum: ["long_term", "short_term", "working"] }],
      count: [true, "integer"],
    },
  },
  MemoryRecalled: {
    object: {
      type: [true, { enum: ["memory_recalled"] }],
      memory_id: [true, "string"],
      content: [true, "string"],
      relevance: [true, "number"],
    },
  },
  MemoryStored: {
    object: {
      type: [true, { enum: ["memory_stored"] }],
      memory_id: [true, "string"],
      memory_type: [true, "string"],
      importance: [true, "number"],
      tags: [true, { array: "string" }],
      content: [false, { anyOf: ["string", "null"] }],
    },
  },
  Message: {
    object: {
      role: [true, { enum: ["user", "assistant"] }],
      content: [false, { array: { anyOf: [{ ref: "TextBlock" }, { ref: "ToolUseBlock" }, { ref: "ToolResultBlock" }, { ref: "ThinkingBlock" }] } }],
      reasoning_content: [false, { anyOf: ["string", "null"] }],
    },
  },
  MessageAdded: {
    object: {
      type: [true, { enum: ["message_added"] }],
      message: [true, { ref: "Message" }],
    },
  },
  ModelChanged: {
    object: {
      type: [true, { enum: ["model_changed"] }],
      model: [true, "string"],
      llm_config: [false, { anyOf: [{ record: "unknown" }, "null"] }],
    },
  },
  PermissionDenied: {
    object: {
      type: [true, { enum: ["permission_denied"] }],
      tool_id: [true, "string"],
      tool_name: [true, "string"],
      args: [true, { record: "unknown" }],
      reason: [true, "string"],
    },
  },
  PersistenceFailed: {
    object: {
      type: [true, { enum: ["persistence_failed"] }],
      session_id: [true, "string"],
      operation: [true, "string"],
      error: [true, "string"],
    },
  },
  PlanningEnd: {
    object: {
      type: [true, { enum: ["planning_end"] }],
      plan: [true, { ref: "ExecutionPlan" }],
      estimated_steps: [true, "integer"],
      error: [false, { anyOf: ["string", "null"] }],
    },
  },
  PlanningStart: {
    object: {
      type: [true, { enum: ["planning_start"] }],
      prompt: [true, "string"],
    },
  },
  QueueAlert: {
    object: {
      type: [true, { enum: ["queue_alert"] }],
      level: [true, "string"],
      alert_type: [true, "string"],
      message: [true, "string"],
    },
  },
  ReasoningDeltaEvent: {
    object: {
      type: [true, { enum: ["reasoning_delta"] }],
      text: [true, "string"],
    },
  },
  SecurityEvent: {
    object: {
      type: [true, { enum: ["security"] }],
      action: [true, { enum: ["blocked", "redacted", "flagged", "asked"] }],
      rule: [true, "string"],
      where: [true, "string"],
      message: [true, "string"],
      tool_id: [false, { anyOf: ["string", "null"] }],
      tool_name: [false, { anyOf: ["string", "null"] }],
    },
  },
  SessionCreated: {
    object: {
      type: [true, { enum: ["session_created"] }],
      session_id: [true, "string"],
      format: [true, "integer"],
      created_at: [true, "number"],
      model: [true, "string"],
      llm_config: [false, { anyOf: [{ record: "unknown" }, "null"] }],
      config: [true, { record: "unknown" }],
    },
  },
  StateChanged: {
    object: {
      type: [true, { enum: ["state_changed"] }],
      state: [true, "string"],
      reason: [false, { anyOf: ["string", "null"] }],
    },
  },
  StepEnd: {
    object: {
      type: [true, { enum: ["step_end"] }],
      step_id: [true, "string"],
      status: [true, { ref: "TaskStatus" }],
      step_number: [true, "integer"],
      total_steps: [true, "integer"],
    },
  },
  StepStart: {
    object: {
      type: [true, { enum: ["step_start"] }],
      step_id: [true, "string"],
      description: [true, "string"],
      step_number: [true, "integer"],
      total_steps: [true, "integer"],
    },
  },
  SubagentEnd: {
    object: {
      type: [true, { enum: ["subagent_end"] }],
      task_id: [true, "string"],
      session_id: [true, "string"],
      agent: [true, "string"],
      output: [true, "string"],
      success: [true, "boolean"],
    },
  },
  SubagentProgress: {
    object: {
      type: [true, { enum: ["subagent_progress"] }],
      task_id: [true, "string"],
      session_id: [true, "string"],
      status: [true, "string"],
      metadata: [false, { record: "unknown" }],
    },
  },
  SubagentStart: {
    object: {
      type: [true, { enum: ["subagent_start"] }],
      task_id: [true, "string"],
      session_id: [true, "string"],
      parent_session_id: [true, "string"],
      agent: [true, "string"],
      description: [true, "string"],
    },
  },
  Task: {
    object: {
      id: [true, "string"],
      content: [true, "string"],
      status: [false, { ref: "TaskStatus" }],
      priority: [false, { ref: "TaskPriority" }],
      tool: [false, { anyOf: ["string", "null"] }],
      dependencies: [false, { array: "string" }],
      success_criteria: [false, { anyOf: ["string", "null"] }],
    },
  },
  TaskPriority: { enum: ["high", "medium", "low"] },
  TaskStatus: { enum: ["pending", "in_progress", "completed", "failed", "skipped", "cancelled"] },
  TaskUpdated: {
    object: {
      type: [true, { enum: ["task_updated"] }],
      session_id: [true, "string"],
      tasks: [true, { array: { ref: "Task" } }],
    },
  },
  TextBlock: {
    object: {
      type: [true, { enum: ["text"] }],
      text: [true, "string"],
    },
  },
  TextDeltaEvent: {
    object: {
      type: [true, { enum: ["text_delta"] }],
      text: [true, "string"],
    },
  },
  ThinkingBlock: {
    object: {
      type: [true, { enum: ["thinking"] }],
      thinking: [true, "string"],
      signature: [false, { anyOf: ["string", "null"] }],
    },
  },
  TokenUsage: {
    object: {
      prompt_tokens: [false, "integer"],
      completion_tokens: [false, "integer"],
      total_tokens: [false, "integer"],
      cache_read_tokens: [false, { anyOf: ["integer", "null"] }],
      cache_write_tokens: [false, { anyOf: ["integer", "null"] }],
      reasoning_tokens: [false, { anyOf: ["integer", "null"] }],
      estimated: [false, "boolean"],
    },
  },
  ToolEnd: {
    object: {
      type: [true, { enum: ["tool_end"] }],
      id: [true, "string"],
      name: [true, "string"],
      output: [true, "string"],
      exit_code: [true, "integer"],
      duration_ms: [false, { anyOf: ["integer", "null"] }],
      args: [false, { anyOf: [{ record: "unknown" }, "null"] }],
      media: [false, { anyOf: [{ array: { record: "string" } }, "null"] }],
    },
  },
  ToolOutputDelta: {
    object: {
      type: [true, { enum: ["tool_output_delta"] }],
      id: [true, "string"],
      name: [true, "string"],
      delta: [true, "string"],
    },
  },
  ToolResultBlock: {
    object: {
      type: [true, { enum: ["tool_result"] }],
      tool_use_id: [true, "string"],
      content: [true, "string"],
      is_error: [false, "boolean"],
    },
  },
  ToolStart: {
    object: {
      type: [true, { enum: ["tool_start"] }],
      id: [true, "string"],
      name: [true, "string"],
    },
  },
  ToolUseBlock: {
    object: {
      type: [true, { enum: ["tool_use"] }],
      id: [true, "string"],
      name: [true, "string"],
      input: [false, { record: "unknown" }],
    },
  },
  TurnEnd: {
    object: {
      type: [true, { enum: ["turn_end"] }],
      turn: [true, "integer"],
      usage: [true, { ref: "TokenUsage" }],
    },
  },
  TurnStart: {
    object: {
      type: [true, { enum: ["turn_start"] }],
      turn: [true, "integer"],
      tools: [false, { anyOf: [{ array: "string" }, "null"] }],
    },
  },
  UsageRecorded: {
    object: {
      type: [true, { enum: ["usage_recorded"] }],
      record: [true, { ref: "LlmCostRecord" }],
    },
  },
};
