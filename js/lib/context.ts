/** Context-bar arithmetic (pure: unit-tested). */

export type Band = "ok" | "warn" | "danger";

/**
 * Colour band of a fill fraction: danger from the compaction threshold on, warn from
 * 50% (or earlier when the threshold is low), ok below.
 */
export function band(percent: number, threshold: number): Band {
  const t = threshold > 0 && threshold <= 1 ? threshold : 0.8;
  if (percent >= t) return "danger";
  if (percent >= Math.min(0.5, t * 0.625)) return "warn";
  return "ok";
}

/** Clamp a fraction to 0..1 for a CSS width (a context can overflow its window). */
export function clampFraction(x: number): number {
  if (!Number.isFinite(x) || x < 0) return 0;
  return x > 1 ? 1 : x;
}

/** A text bar for terminals: ▓▓░░░░ (mirrors the Python text representation). */
export function textBar(percent: number, width = 20): string {
  const filled = Math.round(clampFraction(percent) * width);
  return "▓".repeat(filled) + "░".repeat(width - filled);
}
