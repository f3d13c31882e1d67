"""A short title for a session, asked of its model after the first answer.

The prompt is small (the first request and the start of the first answer) and the answer
is cleaned to one line of at most :data:`MAX_TITLE_CHARS` characters. The scripted model
recognises :data:`TITLE_MARKER` and answers from the request, so titles work offline.
"""

from __future__ import annotations

from a3s_notebook.llm.scripted import TITLE_MARKER
from a3s_notebook.llm.types import Message

__all__ = ["MAX_TITLE_CHARS", "TITLE_MARKER", "clean_title", "first_exchange", "title_prompt"]

MAX_TITLE_CHARS = 60

_PROMPT = (
    "Write a short title for this conversation: at most six words, no quotes, no final "
    "period. Answer with the title only.\n\nRequest: {request}\n\nAnswer: {answer}"
)


def first_exchange(messages: list[Message]) -> tuple[str, str] | None:
    """The first user prompt and the first answer text after it, or None before that."""
    request: str | None = None
    for m in messages:
        if request is None:
            if m.role == "user" and not m.tool_results() and m.text().strip():
                request = m.text().strip()
        elif m.role == "assistant" and m.text().strip() and not m.tool_calls():
            return request, m.text().strip()
    return None


def title_prompt(request: str, answer: str) -> str:
    """The prompt that asks for a title (inputs cut short: a title needs little)."""
    return _PROMPT.format(request=" ".join(request.split())[:1000], answer=answer[:500])


def clean_title(text: str) -> str:
    """One line, no surrounding quotes or final period, at most MAX_TITLE_CHARS."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if line.lower().startswith("title:"):
        line = line[len("title:") :].strip()
    line = line.strip("\"'`*# ").rstrip(".").strip()
    if len(line) > MAX_TITLE_CHARS:
        line = line[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return line
