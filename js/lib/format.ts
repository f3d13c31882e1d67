/** Number, time and size formatting shared by the widgets (pure: unit-tested). */

const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 12345 -> "12,345"; null/undefined -> "–". */
export function formatInt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return intFmt.format(Math.round(n));
}

/** A fraction 0..1 as a percentage with one decimal: 0.0617 -> "6.2%". */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "–";
  return `${(fraction * 100).toFixed(1)}%`;
}

/** Milliseconds as "850 ms", "1.2 s", "2 min 5 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const min = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${min} min ${s} s` : `${min} min`;
}

/**
 * A cost in USD. `null` means the price is unknown and must never read as $0.
 * Small amounts keep significant digits: 0.000123 -> "$0.000123".
 */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "unknown";
  if (usd === 0) return "$0.00";
  if (Math.abs(usd) >= 1) return `$${usd.toFixed(2)}`;
  // four decimals for cents, without trailing zeros past the second: $0.75, $0.0456
  if (Math.abs(usd) >= 0.01) return `$${usd.toFixed(4).replace(/(\.\d\d\d*?)0+$/, "$1")}`;
  return `$${usd.toPrecision(3)}`;
}

/** A countdown: 65_000 -> "1:05", 9_000 -> "0:09"; never negative. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

/** Epoch milliseconds as a local wall-clock time "14:03:12". */
export function formatClock(epochMs: number | null | undefined): string {
  if (epochMs === null || epochMs === undefined || !Number.isFinite(epochMs)) return "";
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Shorten to `max` characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** The last `max` characters, with a marker saying how much was cut. */
export function tail(text: string, max: number): string {
  if (text.length <= max) return text;
  return `… (${formatInt(text.length - max)} earlier characters not shown)\n${text.slice(text.length - max)}`;
}

/** A one-line summary of tool arguments for a collapsed row: the most telling value. */
export function argsSummary(args: Record<string, unknown> | null | undefined, max = 80): string {
  if (!args) return "";
  const preferred = ["file_path", "path", "command", "pattern", "query", "url"];
  for (const key of preferred) {
    const v = args[key];
    if (typeof v === "string" && v) return truncate(v.replace(/\s+/g, " "), max);
  }
  const keys = Object.keys(args);
  if (keys.length === 0) return "";
  const first = keys[0] as string;
  const v = args[first];
  if (Array.isArray(v)) return `${first}: ${v.length} item${v.length === 1 ? "" : "s"}`;
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return truncate(`${first}: ${String(text).replace(/\s+/g, " ")}`, max);
}

/** Pretty JSON, cut at `max` characters so a huge argument cannot freeze the page. */
export function prettyJson(value: unknown, max = 20_000): string {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}\n… (${formatInt(text.length - max)} more characters)` : text;
}

/** How an argument value is shown: inline, a block of text, or JSON. */
export function argDisplay(value: unknown): { mode: "inline" | "text" | "json"; text: string } {
  if (typeof value === "string") return { mode: value.includes("\n") ? "text" : "inline", text: value };
  const compact = JSON.stringify(value) ?? String(value);
  if (compact.length <= 80) return { mode: "inline", text: compact };
  return { mode: "json", text: prettyJson(value) };
}
