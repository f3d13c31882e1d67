// The generated event types and their runtime check (lib/events.gen.ts, from the Python
// event union's JSON schema: `.venv/bin/python js/gen_types.py`).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type AgentEvent,
  DURABLE_TYPES,
  EVENT_TYPES,
  type EventOf,
  isAgentEvent,
  isEventOfType,
  TRANSIENT_TYPES,
  validateAgentEvent,
} from "../lib/events.gen.js";

test("the type lists are sorted, and durable + transient = every type", () => {
  for (const list of [EVENT_TYPES, DURABLE_TYPES, TRANSIENT_TYPES]) {
    assert.deepEqual([...list], [...new Set(list)].sort());
  }
  assert.deepEqual([...DURABLE_TYPES, ...TRANSIENT_TYPES].sort(), [...EVENT_TYPES]);
  assert.ok(EVENT_TYPES.includes("confirmation_required") && TRANSIENT_TYPES.includes("text_delta"));
});

const toolEnd = { type: "tool_end", id: "t1", name: "bash", output: "hi\n", exit_code: 0 };
const message = {
  type: "message_added",
  message: {
    role: "assistant",
    content: [
      { type: "text", text: "Looking." },
      { type: "tool_use", id: "t1", name: "read", input: { file_path: "a" } },
      { type: "thinking", thinking: "hmm", signature: null },
    ],
  },
};

test("well-formed events pass, with optional fields absent or null and unknown fields kept", () => {
  const valid: unknown[] = [
    toolEnd,
    { ...toolEnd, duration_ms: 12, args: { command: "echo hi" } },
    { ...toolEnd, duration_ms: null, args: null },
    message,
    { type: "security", action: "blocked", rule: "r", where: "prompt", message: "m", tool_name: null },
    { type: "usage_recorded", record: { model: "m", prompt_tokens: 3, cost_usd: null, provenance: { cell: 1 } } },
    { type: "task_updated", session_id: "s", tasks: [{ id: "1", content: "c", status: "in_progress", priority: "high" }] },
    // a log line carries its time beside the event's fields
    { type: "agent_start", prompt: "hi", ts: 1_700_000_000.5 },
  ];
  for (const x of valid) assert.equal(validateAgentEvent(x), null, JSON.stringify(x));
});

test("malformed events fail with the path of the first problem", () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /expected an event object, got null/],
    [[toolEnd], /expected an event object, got an array/],
    [{ name: "x" }, /\$\.type: expected a string, got undefined/],
    [{ type: "tool_exploded" }, /unknown event type "tool_exploded"/],
    [{ type: "constructor" }, /unknown event type "constructor"/],
    [{ ...toolEnd, exit_code: undefined }, /\$<ToolEnd>\.exit_code: missing/],
    [{ ...toolEnd, exit_code: "0" }, /\.exit_code: expected an integer, got string "0"/],
    [{ ...toolEnd, exit_code: 0.5 }, /\.exit_code: expected an integer/],
    [{ ...toolEnd, output: null }, /\.output: expected string, got null/],
    [{ ...toolEnd, args: [1] }, /\.args: matches no member/],
    [{ type: "security", action: "nuked", rule: "r", where: "w", message: "m" }, /\.action: expected "blocked" \| "redacted"/],
    [{ ...message, message: { role: "robot" } }, /\.message\.role: expected "user" \| "assistant"/],
    [{ ...message, message: { role: "user", content: [{ type: "text" }] } }, /\.message\.content\[0\]: matches no member/],
    [{ type: "turn_end", turn: 1, usage: { total_tokens: "many" } }, /\.usage\.total_tokens: expected an integer/],
  ];
  for (const [x, why] of cases) {
    const problem = validateAgentEvent(x);
    assert.ok(problem !== null, `accepted ${JSON.stringify(x)}`);
    assert.match(problem, why);
    assert.equal(isAgentEvent(x), false);
  }
});

test("isEventOfType narrows to one event's interface", () => {
  const x: unknown = JSON.parse(JSON.stringify(toolEnd));
  assert.equal(isEventOfType(x, "tool_start"), false);
  assert.ok(isEventOfType(x, "tool_end"));
  const end: EventOf<"tool_end"> = x;
  assert.equal(end.exit_code, 0);
  const any: AgentEvent = end;
  assert.equal(any.type, "tool_end");
});
