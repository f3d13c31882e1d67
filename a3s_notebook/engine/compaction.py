"""Context compaction (spec section 5).

Keep the first 2 messages, replace the middle with one summary message, keep the last
20. With no LLM (or when the LLM fails) the history is truncated to the last 20.

Boundaries are moved so that a tool result never loses the tool call it answers: the
providers reject a ``tool_result`` whose ``tool_use`` is gone.
"""

from __future__ import annotations

from collections.abc import Callable

from a3s_notebook.llm.types import (
    LlmClient,
    LlmResponse,
    Message,
    TextBlock,
    ToolResultBlock,
    complete,
)

__all__ = [
    "CONTEXT_COMPACT_PROMPT",
    "KEEP_INITIAL_MESSAGES",
    "KEEP_RECENT_MESSAGES",
    "MIN_MESSAGES_FOR_COMPACTION",
    "MIN_PRUNE_SAVINGS_TOKENS",
    "PRUNED_MARKER",
    "SUMMARY_PREFIX",
    "TOOL_OUTPUT_PROTECT_TOKENS",
    "compact_messages",
    "estimate_tokens",
    "prune_tool_outputs",
    "should_auto_compact",
    "truncate_messages",
]

KEEP_RECENT_MESSAGES = 20
MIN_MESSAGES_FOR_COMPACTION = 30
KEEP_INITIAL_MESSAGES = 2
TOOL_OUTPUT_PROTECT_TOKENS = 40_000
MIN_PRUNE_SAVINGS_TOKENS = 20_000
PRUNED_MARKER = "[output pruned — re-read file or re-run command if needed]"
SUMMARY_PREFIX = "[Context Summary: The following is a summary of earlier conversation]"

CONTEXT_COMPACT_PROMPT = """Please summarize the conversation below so that work can continue from \
the summary alone. Write a compact block under 600 words with these sections:

Goal: the original request, verbatim.
Files Touched: paths read, written or edited.
Commands Run: commands and their outcome.
Errors/Issues: what went wrong and whether it was fixed.
Current State: what is done and what remains.

Merge any earlier summary into yours. Do not include raw file contents.

Conversation:

{conversation}"""


def estimate_tokens(text_or_chars: str | int) -> int:
    """The engine's token estimate: characters // 4."""
    n = text_or_chars if isinstance(text_or_chars, int) else len(text_or_chars)
    return n // 4


def should_auto_compact(used: int, max_tokens: int, threshold: float) -> bool:
    """True when ``used / max_tokens >= threshold`` (inclusive); False when max is 0."""
    if max_tokens == 0:
        return False
    return used / max_tokens >= threshold


def _starts_with_orphan_result(messages: list[Message], index: int) -> bool:
    return 0 <= index < len(messages) and bool(messages[index].tool_results())


def _recent_start(messages: list[Message], keep: int) -> int:
    """Index where the kept tail begins, moved back so it starts with no orphan result."""
    start = max(0, len(messages) - keep)
    while start > 0 and _starts_with_orphan_result(messages, start):
        start -= 1
    return start


def _initial_end(messages: list[Message], keep: int, limit: int) -> int:
    """End of the kept head, moved forward so a kept tool call keeps its result."""
    end = min(keep, limit)
    while 0 < end < limit and messages[end - 1].tool_calls():
        end += 1
    return end


def _render(messages: list[Message]) -> str:
    blocks = []
    for m in messages:
        parts = [b.text for b in m.content if isinstance(b, TextBlock)]
        parts += [
            f"[tool result] {b.content[:500]}" for b in m.content if isinstance(b, ToolResultBlock)
        ]
        parts += [f"[tool call] {c.name}({c.args})"[:300] for c in m.tool_calls()]
        if parts:
            blocks.append(f"{m.role}: " + "\n".join(parts))
    return "\n\n".join(blocks)


def truncate_messages(messages: list[Message], keep: int = KEEP_RECENT_MESSAGES) -> list[Message]:
    """Keep only the last ``keep`` messages (no orphan tool results at the start)."""
    if len(messages) <= keep:
        return list(messages)
    return list(messages[_recent_start(messages, keep) :])


async def compact_messages(
    messages: list[Message],
    llm: LlmClient | None,
    on_response: Callable[[LlmResponse], None] | None = None,
) -> list[Message] | None:
    """Compact a history; ``None`` means nothing to do.

    With an LLM: needs more than 30 messages; keeps 2 + summary + 20. Without one, or
    when the summary call fails: truncation to the last 20 messages. ``on_response``
    receives the summary call's response (its usage belongs in the ledger).
    """
    if llm is None:
        if len(messages) <= KEEP_RECENT_MESSAGES:
            return None
        return truncate_messages(messages)
    if len(messages) <= MIN_MESSAGES_FOR_COMPACTION:
        return None
    recent_start = _recent_start(messages, KEEP_RECENT_MESSAGES)
    initial_end = _initial_end(messages, KEEP_INITIAL_MESSAGES, recent_start)
    middle = messages[initial_end:recent_start]
    if not middle:
        return list(messages[recent_start:])
    prompt = CONTEXT_COMPACT_PROMPT.format(conversation=_render(middle))
    try:
        response = await complete(llm, [Message.user(prompt)], system=None, tools=None)
    except Exception:
        # compaction must not fail at the moment it is needed: fall back to truncation
        return truncate_messages(messages)
    if on_response is not None:
        on_response(response)
    summary = Message.user(f"{SUMMARY_PREFIX}\n\n{response.message.text().strip()}")
    return [*messages[:initial_end], summary, *messages[recent_start:]]


def prune_tool_outputs(messages: list[Message]) -> tuple[list[Message], int]:
    """Replace old tool outputs with a marker; returns (messages, tokens saved).

    Walks tool results newest first and protects them until 40k estimated tokens are
    covered; the rest are pruned, but only if that saves at least 20k tokens.
    """
    sizes: list[tuple[int, int, int]] = []  # (message index, block index, tokens)
    for mi in range(len(messages) - 1, -1, -1):
        for bi, block in enumerate(messages[mi].content):
            if isinstance(block, ToolResultBlock):
                sizes.append((mi, bi, estimate_tokens(block.content)))
    total = sum(t for _, _, t in sizes)
    if total <= TOOL_OUTPUT_PROTECT_TOKENS:
        return messages, 0
    covered, to_prune = 0, []
    for mi, bi, tokens in sizes:
        if covered < TOOL_OUTPUT_PROTECT_TOKENS:
            covered += tokens
        else:
            to_prune.append((mi, bi, tokens))
    savings = sum(t for _, _, t in to_prune) - sum(estimate_tokens(PRUNED_MARKER) for _ in to_prune)
    if savings < MIN_PRUNE_SAVINGS_TOKENS:
        return messages, 0
    out = [m.model_copy(deep=True) for m in messages]
    for mi, bi, _ in to_prune:
        block = out[mi].content[bi]
        assert isinstance(block, ToolResultBlock)
        out[mi].content[bi] = block.model_copy(update={"content": PRUNED_MARKER})
    return out, savings
