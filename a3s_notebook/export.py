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
                args = json.dumps(block.input, indent=2, ensure_ascii=False)
                out += [
                    f"**Tool call** `{block.name}` (`{block.id}`):",
                    "",
                    _fence(args, "json"),
                    "",
                ]
            elif isinstance(block, ToolResultBlock):
                mark = "error" if block.is_error else "ok"
                text = (
                    block.content if len(block.content) <= 4000 else block.content[:4000] + "\n..."
                )
                out += [f"**Tool result** (`{block.tool_use_id}`, {mark}):", "", _fence(text), ""]
    out += _audit(session)
    out += _costs(session)
    return "\n".join(out).rstrip() + "\n"


def _audit(session: Session) -> list[str]:
    events = session.events()
    asked = {e.tool_id: e for e in events if isinstance(e, ConfirmationRequired)}
    rows = []
    for e in events:
        if isinstance(e, ConfirmationReceived):
            req = asked.get(e.tool_id)
            what = (
                f"`{req.tool_name}` {json.dumps(req.args, ensure_ascii=False)[:80]}"
                if req
                else e.tool_id
            )
            verdict = "approved" if e.approved else "denied"
            extra = f"; reason: {e.reason}" if e.reason else ""
            rule = f"; added rule allow `{e.rule_added}`" if e.rule_added else ""
            why = req.reason if req and req.reason else ""
            rows.append(f"| {what} | {why} | {verdict} by {e.decided_by or 'user'}{extra}{rule} |")
        elif isinstance(e, ConfirmationTimeout):
            req = asked.get(e.tool_id)
            what = f"`{req.tool_name}`" if req else e.tool_id
            why = req.reason if req and req.reason else ""
            rows.append(f"| {what} | {why} | timed out: {e.action_taken} |")
        elif isinstance(e, PermissionDenied):
            rows.append(f"| `{e.tool_name}` | {e.reason} | denied by rule |")
    if not rows:
        return []
    return [
        "## Approvals and denials",
        "",
        "| call | why asked | decision |",
        "|---|---|---|",
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
        f"- tokens: {usage.prompt_tokens} in, {usage.completion_tokens} out{est}",
        f"- cost: {'unknown (no price for this model)' if cost is None else f'${cost:.6f}'}",
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
