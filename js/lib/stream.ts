/**
 * The EventStream's front-end state: committed rows come from traits, streamed text from
 * "delta" messages. Pure functions, unit-tested without a browser.
 */
import type { DeltaMsg, LiveSegment, Row, RowsMsg, SnapshotMsg } from "./types.js";

export interface LiveState {
  /** Sequence number of the last delta applied (or of the snapshot that replaced them). */
  seq: number;
  segs: Map<string, LiveSegment>;
}

export function newLive(): LiveState {
  return { seq: 0, segs: new Map() };
}

/** Apply one coalesced delta message; false when it was already included by a snapshot. */
export function applyDelta(state: LiveState, msg: DeltaMsg): boolean {
  if (msg.seq <= state.seq) return false;
  state.seq = msg.seq;
  for (const part of msg.parts) {
    const seg = state.segs.get(part.seg) ?? {};
    seg[part.field] = (seg[part.field] ?? "") + part.text;
    state.segs.set(part.seg, seg);
  }
  return true;
}

/** Replace the live state with Python's (sent when a view says hello). */
export function applySnapshot(state: LiveState, msg: SnapshotMsg): boolean {
  if (msg.seq < state.seq) return false;
  state.seq = msg.seq;
  state.segs = new Map(Object.entries(msg.live));
  return true;
}

/**
 * Forget live text that has become durable: an assistant segment once a row with its id
 * exists, a tool's streamed output once its row is no longer running.
 */
export function pruneCommitted(state: LiveState, rows: Iterable<Row>): void {
  if (state.segs.size === 0) return;
  for (const row of rows) {
    if (!state.segs.has(row.id)) continue;
    if (row.kind === "tool" && row.status === "running") continue;
    state.segs.delete(row.id);
  }
}

/** The live assistant segments that have no row yet (normally zero or one). */
export function pendingSegments(state: LiveState, rowIds: Set<string>): Array<[string, LiveSegment]> {
  const out: Array<[string, LiveSegment]> = [];
  for (const [id, seg] of state.segs) {
    if (!rowIds.has(id) && (seg.text !== undefined || seg.reasoning !== undefined)) out.push([id, seg]);
  }
  return out;
}

/** The last `limit` rows and how many are hidden before them. */
export function visibleRows<T>(rows: T[], limit: number): { rows: T[]; hidden: number } {
  const n = Math.max(0, Math.floor(limit));
  if (rows.length <= n) return { rows, hidden: 0 };
  return { rows: rows.slice(rows.length - n), hidden: rows.length - n };
}

/** A cache key that changes whenever a row's content does. */
export function rowKey(row: Row): string {
  return `${row.id}:${row.v ?? 0}`;
}

/**
 * The committed rows as a view knows them, at revision `rev`. Full states (the traits,
 * a snapshot) replace them when newer; "rows" messages apply in order on top.
 */
export interface RowsState {
  /** -1 before any state arrived. */
  rev: number;
  rows: Row[];
  index: Map<string, number>;
}

export function newRows(): RowsState {
  return { rev: -1, rows: [], index: new Map() };
}

function reindex(state: RowsState, from = 0): void {
  if (from === 0) state.index = new Map();
  state.rows.forEach((row, i) => {
    if (i >= from) state.index.set(row.id, i);
  });
}

/** Take a full state (traits or snapshot) at revision `rev`; false when it is not newer. */
export function setRows(state: RowsState, rows: Row[], rev: number): boolean {
  if (rev <= state.rev) return false;
  state.rev = rev;
  state.rows = [...rows];
  reindex(state);
  return true;
}

/**
 * Apply a "rows" message. "stale": already included (ignored); "gap": a message between
 * the view's revision and this one was never seen (a view made mid-run): the caller asks
 * for a snapshot and ignores the message until then.
 */
export function applyRows(state: RowsState, msg: RowsMsg): "applied" | "stale" | "gap" {
  if (msg.rev <= state.rev) return "stale";
  if (msg.rev !== state.rev + 1) return "gap";
  state.rev = msg.rev;
  for (const op of msg.ops) {
    if (op.op === "append") {
      state.index.set(op.row.id, state.rows.length);
      state.rows.push(op.row);
    } else if (op.op === "update") {
      const i = state.index.get(op.row.id);
      if (i === undefined) {
        state.index.set(op.row.id, state.rows.length);
        state.rows.push(op.row);
      } else {
        state.rows[i] = op.row;
      }
    } else {
      const at = state.index.get(op.before) ?? state.rows.length;
      state.rows.splice(at, 0, op.row);
      reindex(state, at);
    }
  }
  return "applied";
}
