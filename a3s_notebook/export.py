"""Export a session: Markdown (transcript, tool calls, approval audit trail, costs) or JSONL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from a3s_notebook._markdown import safe_markdown
from a3s_notebook.engine.events import (
    ConfirmationReceived,
    ConfirmationRequired,
    ConfirmationTimeout,
    PermissionDenied,
    event_to_dict,
)
from a3s_notebook.llm.types import TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock

if TYPE_CHECKING:
    from a3s_notebook.engine.session import Session

__all__ = ["export_session", "session_to_markdown"]


def _ts(value: float) -> str:
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fence(text: str, lang: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


TOOL_RESULT_MAX = 4000
"""Characters of a tool result an export shows before saying how much was left out."""
ARGS_FOLD_LINES = 12
"""Tool-call arguments longer than this (as indented JSON) are folded (``<details>``)."""


def _cut(text: str, limit: int) -> str:
    """``text`` up to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()}\n… ({len(text) - limit:,} more characters)"


def _cell(text: str, limit: int = 120) -> str:
    """One line of a Markdown table cell: pipes escaped, cut with an ellipsis."""
    one = " ".join(text.split()).replace("|", "\\|")
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "…"


def _clock(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S")


def session_to_markdown(session: Session) -> str:
    """A readable record of a session: transcript, tool calls, audit trail and cost."""
    out = [f"# Session {session.name}", ""]
    out.append(f"- id: `{session.id}`")
    out.append(f"- model: `{session.model_name}`")
    out.append(f"- state: {session.state.value}")
    out.append(f"- workspace: `{session.workspace}`")
    out.append(f"- created: {_ts(session.created_at)}")
    rules = session.rules()
    for kind in ("allow", "ask", "deny"):
        if rules[kind]:
            out.append(f"- {kind} rules: " + ", ".join(f"`{r}`" for r in rules[kind]))
    out += ["", "## Transcript", ""]
    for m in session.messages:
        for block in m.content:
            if isinstance(block, TextBlock) and block.text.strip():
                who = "User" if m.role == "user" else "Assistant"
                out += [f"**{who}:**", "", safe_markdown(block.text.strip()), ""]
            elif isinstance(block, ThinkingBlock):
                thinking = safe_markdown(block.thinking.strip())
                out += ["*Thinking:*", "", "> " + thinking.replace("\n", "\n> "), ""]
            elif isinstance(block, ToolUseBlock):
                out += _tool_call(block)
            elif isinstance(block, ToolResultBlock):
                mark = "error" if block.is_error else "ok"
                text = _cut(block.content, TOOL_RESULT_MAX)
                out += [f"**Tool result** (`{block.tool_use_id}`, {mark}):", "", _fence(text), ""]
    out += _audit(session)
    out += _costs(session)
    return "\n".join(out).rstrip() + "\n"


def _tool_call(block: ToolUseBlock) -> list[str]:
    args = json.dumps(block.input, indent=2, ensure_ascii=False)
    head = f"**Tool call** `{block.name}` (`{block.id}`)"
    if args.count("\n") < ARGS_FOLD_LINES:
        return [f"{head}:", "", _fence(args, "json"), ""]
    # a long argument (a task list, a whole file) folds: the transcript stays readable
    todos = block.input.get("todos") if isinstance(block.input, dict) else None
    what = f"{len(todos)} tasks" if isinstance(todos, list) else f"{args.count(chr(10)) + 1} lines"
    return [
        f"{head}:",
        "",
        f"<details><summary>arguments ({what})</summary>",
        "",
        _fence(args, "json"),
        "",
        "</details>",
        "",
    ]


def _audit(session: Session) -> list[str]:
    logged = session.log()
    asked: dict[str, tuple[float | None, ConfirmationRequired]] = {
        e.tool_id: (ts, e) for ts, e in logged if isinstance(e, ConfirmationRequired)
    }
    rows = []
    for ts, e in logged:
        if isinstance(e, (ConfirmationReceived, ConfirmationTimeout)):
            at, req = asked.get(e.tool_id, (None, None))
            what = (
                f"`{req.tool_name}` {_cell(json.dumps(req.args, ensure_ascii=False), 80)}"
                if req
                else e.tool_id
            )
            why = _cell(req.reason) if req and req.reason else ""
            waited = f" ({ts - at:.1f} s)" if ts is not None and at is not None else ""
            when = f"{_clock(at)} → {_clock(ts)}{waited}" if at is not None else _clock(ts)
            if isinstance(e, ConfirmationReceived):
                verdict = f"{'approved' if e.approved else 'denied'} by {e.decided_by or 'user'}"
                if e.reason:
                    verdict += f"; reason: {_cell(e.reason)}"
                if e.rule_added:
                    verdict += f"; added rule allow `{e.rule_added}`"
            else:
                verdict = f"timed out: {e.action_taken}"
            rows.append(f"| {what} | {why} | {when} | {verdict} |")
        elif isinstance(e, PermissionDenied):
            rows.append(f"| `{e.tool_name}` | {_cell(e.reason)} | {_clock(ts)} | denied by rule |")
    if not rows:
        return []
    return [
        "## Approvals and denials",
        "",
        "Times are UTC: asked → decided (how long the call waited).",
        "",
        "| call | why asked | asked → decided | decision |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def _costs(session: Session) -> list[str]:
    records = session.cost_records
    if not records:
        return []
    usage = session.total_usage
    cost = session.total_cost
    est = " (estimated)" if usage.estimated else ""
    lines = [
        "## Cost",
        "",
        f"- LLM calls: {len(records)}",
        f"- tokens: {usage.prompt_tokens:,} in, {usage.completion_tokens:,} out{est}",
        f"- cost: {'no price for this model' if cost is None else f'${cost:.6f}'}",
        "",
    ]
    return lines


def export_session(session: Session, path: str | Path) -> Path:
    """Write a session to ``path``: ``.md`` gives Markdown, ``.jsonl`` its event log (the same
    lines as its session file, which :func:`a3s_notebook.load_sessions` reads)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix in (".md", ".markdown"):
        target.write_text(session_to_markdown(session), encoding="utf-8")
    elif suffix == ".jsonl":
        with target.open("w", encoding="utf-8") as fh:
            for ts, event in session.log():
                line = {**event_to_dict(event), "ts": ts}
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    else:
        raise ValueError(
            f"cannot export to {target.name!r}: use a path ending in .md (Markdown) or .jsonl"
        )
    return target
