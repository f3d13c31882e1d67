/**
 * Line diffs for the approval cards (write and edit). Myers' O((N+M)D) algorithm on
 * lines after trimming the common prefix and suffix; grouped into unified hunks.
 */

export interface DiffLine {
  op: " " | "-" | "+";
  text: string;
  /** 1-based line number in the old text (context and deletions). */
  a?: number;
  /** 1-based line number in the new text (context and additions). */
  b?: number;
}

export interface Hunk {
  header: string;
  lines: DiffLine[];
}

/** Beyond this many changed lines on each side the diff is shown as replace-all. */
export const DIFF_MAX_LINES = 4000;

export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  // a trailing newline ends the last line; it does not start an empty one
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function myers(a: string[], b: string[]): Array<" " | "-" | "+"> {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  v[off + 1] = 0;
  const trace: Int32Array[] = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && (v[off + k - 1] as number) < (v[off + k + 1] as number))) {
        x = v[off + k + 1] as number;
      } else {
        x = (v[off + k - 1] as number) + 1;
      }
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  const ops: Array<" " | "-" | "+"> = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d] as Int32Array;
    const k = x - y;
    const prevK =
      k === -d || (k !== d && (vd[off + k - 1] as number) < (vd[off + k + 1] as number)) ? k + 1 : k - 1;
    const prevX = vd[off + prevK] as number;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push(" ");
      x--;
      y--;
    }
    if (d > 0) {
      if (x === prevX) {
        ops.push("+");
        y--;
      } else {
        ops.push("-");
        x--;
      }
    }
  }
  return ops.reverse();
}

/** The line-by-line diff of two texts. */
export function diffLines(oldText: string, newText: string): DiffLine[] {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const midA = a.slice(pre, a.length - suf);
  const midB = b.slice(pre, b.length - suf);
  let ops: Array<" " | "-" | "+">;
  if (midA.length > DIFF_MAX_LINES || midB.length > DIFF_MAX_LINES) {
    ops = [...midA.map(() => "-" as const), ...midB.map(() => "+" as const)];
  } else {
    ops = myers(midA, midB);
  }
  const out: DiffLine[] = [];
  for (let i = 0; i < pre; i++) out.push({ op: " ", text: a[i] as string, a: i + 1, b: i + 1 });
  let ia = pre;
  let ib = pre;
  for (const op of ops) {
    if (op === " ") {
      out.push({ op, text: a[ia] as string, a: ia + 1, b: ib + 1 });
      ia++;
      ib++;
    } else if (op === "-") {
      out.push({ op, text: a[ia] as string, a: ia + 1 });
      ia++;
    } else {
      out.push({ op, text: b[ib] as string, b: ib + 1 });
      ib++;
    }
  }
  for (let i = 0; i < suf; i++) {
    out.push({ op: " ", text: a[ia] as string, a: ia + 1, b: ib + 1 });
    ia++;
    ib++;
  }
  return out;
}

/** Group a diff into unified hunks with `context` unchanged lines around each change. */
export function hunks(lines: DiffLine[], context = 3): Hunk[] {
  const changed: number[] = [];
  lines.forEach((l, i) => {
    if (l.op !== " ") changed.push(i);
  });
  if (changed.length === 0) return [];
  const ranges: Array<[number, number]> = [];
  for (const i of changed) {
    const start = Math.max(0, i - context);
    const end = Math.min(lines.length - 1, i + context);
    const last = ranges[ranges.length - 1];
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else ranges.push([start, end]);
  }
  return ranges.map(([start, end]) => {
    const slice = lines.slice(start, end + 1);
    const aLines = slice.filter((l) => l.op !== "+");
    const bLines = slice.filter((l) => l.op !== "-");
    const aStart = aLines[0]?.a ?? firstBefore(lines, start, "a");
    const bStart = bLines[0]?.b ?? firstBefore(lines, start, "b");
    return {
      header: `@@ -${aStart},${aLines.length} +${bStart},${bLines.length} @@`,
      lines: slice,
    };
  });
}

function firstBefore(lines: DiffLine[], index: number, side: "a" | "b"): number {
  // an empty side of a hunk is numbered by the line before it (0 at the top), as diff -u does
  for (let i = index - 1; i >= 0; i--) {
    const n = lines[i]?.[side];
    if (n !== undefined) return n;
  }
  return 0;
}

/** Counts for a summary line: "+12 −3". */
export function diffStats(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.op === "+") added++;
    else if (l.op === "-") removed++;
  }
  return { added, removed };
}
