"""Plain-text / Markdown formatting shared by the widgets' text representations."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["args_summary", "bar", "clip", "cost", "duration", "md_escape", "num", "pct"]


def num(n: float | None) -> str:
    """12345 -> "12,345"."""
    return "-" if n is None else f"{round(n):,}"


def pct(fraction: float | None) -> str:
    """0.0617 -> "6.2%"."""
    return "-" if fraction is None else f"{fraction * 100:.1f}%"


def bar(fraction: float, width: int = 20) -> str:
    """A text bar ``▓▓░░░░`` (mirrors js/lib/context.ts textBar)."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "▓" * filled + "░" * (width - filled)


def cost(usd: float | None) -> str:
    """A USD amount; None is "unknown", never $0 (mirrors js/lib/format.ts formatCost)."""
    if usd is None:
        return "unknown"
    if usd == 0:
        return "$0.00"
    if abs(usd) >= 1:
        return f"${usd:.2f}"
    if abs(usd) >= 0.01:
        # four decimals for cents, without trailing zeros past the second: $0.75, $0.0456
        whole, _, frac = f"{usd:.4f}".partition(".")
        return f"${whole}.{frac[:2] + frac[2:].rstrip('0')}"
    return f"${usd:.3g}"


def duration(ms: float | None) -> str:
    """850 -> "850 ms", 1234 -> "1.2 s"."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{round(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {round((ms % 60_000) / 1000)} s"


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def md_escape(text: str) -> str:
    """Neutralise Markdown/HTML in a short inline string (names, reasons, arguments)."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return " ".join(out.split())


def args_summary(args: dict[str, Any] | None, limit: int = 60) -> str:
    """The most telling argument, for a one-line row (mirrors js/lib/format.ts argsSummary)."""
    if not args:
        return ""
    for key in ("file_path", "path", "command", "pattern", "query", "url"):
        value = args.get(key)
        if isinstance(value, str) and value:
            return clip(" ".join(value.split()), limit)
    key, value = next(iter(args.items()))
    if isinstance(value, list):
        return f"{key}: {len(value)} item{'' if len(value) == 1 else 's'}"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return clip(f"{key}: {' '.join(text.split())}", limit)
