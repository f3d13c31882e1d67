"""Token counts for usage estimates, when a server reports no usage.

Most servers report usage (OpenAI, Anthropic, vLLM, Ollama, llama.cpp's ``llama-server``
and LM Studio send it in the last chunk of a stream that asks for
``stream_options.include_usage``). Some ignore that option (llama-cpp-python's server);
the providers then estimate the usage and mark it ``estimated=True``, counting with the
best tokenizer at hand, in this order:

1. the server's own tokenizer, when it has an endpoint for it (llama.cpp's
   ``POST /tokenize``, vLLM's ``POST /tokenize``, llama-cpp-python's
   ``POST /extras/tokenize/count``; see :mod:`a3s_notebook.llm._server_info`);
2. ``tiktoken`` for OpenAI-family model names, when it is installed
   (``pip install 'a3s-notebook[tokens]'``) and its encoding files are at hand: it loads
   them in a background thread and, while that is not done within
   :data:`TIKTOKEN_LOAD_WAIT_S`, the heuristic below is used;
3. :func:`heuristic_tokens`: the larger of ``ceil(characters / 4)`` and the number of
   words, punctuation marks and CJK characters; at least 1 for any non-blank text, so a
   reply like "Hi." is never 0 output tokens.

What is counted as the prompt (see :func:`prompt_text`): the system prompt and every
message's text, tool calls (name and JSON arguments), tool results and reasoning. The
chat template's own markers (a few tokens per message, and whatever default system
prompt a template adds) are not: they differ per template and no server tells them.
Tool *definitions* are not counted either:
whether their schemas reach the prompt depends on the server's chat template. Under
llama-cpp-python's server with SmolLM2's template they do not (the reported
``prompt_tokens`` of a request are the same with and without ``tools``; see
``tests/local_model``), and the servers whose templates do render them report usage
themselves, so no estimate is needed there.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable
from typing import Any

from a3s_notebook.llm.types import Message, TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock

__all__ = [
    "TIKTOKEN_LOAD_WAIT_S",
    "completion_text",
    "heuristic_tokens",
    "is_openai_family",
    "prompt_text",
    "tiktoken_counter",
]

logger = logging.getLogger("a3s_notebook.llm")

TIKTOKEN_LOAD_WAIT_S = 2.0
"""How long one estimate waits for tiktoken to load an encoding (it may download it)."""

_PIECES = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"  # one CJK char each
    r"|[^\W_]+"  # a run of letters or digits
    r"|[^\w\s]|_"  # one punctuation mark or symbol
)


def heuristic_tokens(text: str) -> int:
    """A tokenizer-free estimate: ``max(ceil(chars / 4), words + punctuation + CJK chars)``.

    Never 0 for a text with anything but whitespace in it; 0 for an empty text.
    """
    if not text or text.isspace():
        return 0
    by_chars = math.ceil(len(text) / 4)
    pieces = sum(1 for _ in _PIECES.finditer(text))
    return max(1, by_chars, pieces)


# --- tiktoken (optional) -------------------------------------------------------------------

_OPENAI_FAMILY = re.compile(
    r"^(gpt-|chatgpt|o\d|text-davinci|davinci|babbage|text-embedding|codex|computer-use)",
    re.IGNORECASE,
)

_encodings: dict[str, Any] = {}
"""Encoding name -> a loaded tiktoken ``Encoding``, or None when it failed to load."""
_loading: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def is_openai_family(model: str) -> bool:
    """Whether ``model`` names one of OpenAI's models (``gpt-4o-mini``, ``o3``...).

    A ``vendor/`` prefix as routers write it (``openai/gpt-4o``) is ignored.
    """
    return bool(_OPENAI_FAMILY.match(model.rsplit("/", 1)[-1]))


def _encoding_name(tiktoken: Any, model: str) -> str:
    name = model.rsplit("/", 1)[-1]
    try:
        return str(tiktoken.encoding_name_for_model(name))
    except (KeyError, ValueError, AttributeError):
        # a model newer than the installed tiktoken: current OpenAI models use o200k
        return "o200k_base"


def tiktoken_counter(
    model: str, *, wait_s: float = TIKTOKEN_LOAD_WAIT_S
) -> Callable[[str], int] | None:
    """A function counting ``model``'s tokens with tiktoken, or None.

    None when the name is not an OpenAI model, tiktoken is not installed, or its encoding
    could not be loaded within ``wait_s`` seconds (the load goes on in a daemon thread,
    so a later call may succeed). Never raises.
    """
    if not is_openai_family(model):
        return None
    try:
        # an optional dependency (the `tokens` extra): imported by name, so the type
        # checker does not need it installed
        tiktoken: Any = importlib.import_module("tiktoken")
    except ImportError:
        return None
    try:
        name = _encoding_name(tiktoken, model)
    except Exception:  # pragma: no cover - a broken tiktoken must not break an estimate
        return None
    with _lock:
        if name in _encodings:
            encoding = _encodings[name]
            return None if encoding is None else _counter(encoding)
        thread = _loading.get(name)
        if thread is None:
            thread = threading.Thread(
                target=_load, args=(tiktoken, name), name=f"tiktoken-{name}", daemon=True
            )
            _loading[name] = thread
            thread.start()
    thread.join(wait_s)
    with _lock:
        encoding = _encodings.get(name)
    return None if encoding is None else _counter(encoding)


def _load(tiktoken: Any, name: str) -> None:
    try:
        encoding = tiktoken.get_encoding(name)
    except Exception as exc:  # no network for the download, a damaged cache...
        logger.info("tiktoken could not load %s (%s); estimating tokens without it", name, exc)
        encoding = None
    with _lock:
        _encodings[name] = encoding
        _loading.pop(name, None)


def _counter(encoding: Any) -> Callable[[str], int]:
    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=())) if text else 0

    return count


# --- what is counted -----------------------------------------------------------------------


def _block_text(block: Any) -> str:
    if isinstance(block, TextBlock):
        return block.text
    if isinstance(block, ToolUseBlock):
        return f"{block.name} {json.dumps(block.input, ensure_ascii=False)}"
    if isinstance(block, ToolResultBlock):
        return block.content
    if isinstance(block, ThinkingBlock):
        return block.thinking
    return ""


def _message_text(message: Message) -> str:
    parts = [message.reasoning_content or ""]
    parts += [_block_text(b) for b in message.content]
    return "\n".join(p for p in parts if p)


def prompt_text(messages: list[Message], system: str | None) -> str:
    """A request's prompt as one text: the system prompt first, one message per line."""
    texts = [system] if system else []
    texts += [_message_text(m) for m in messages]
    return "\n".join(t for t in texts if t)


def completion_text(message: Message) -> str:
    """What the model generated: its text, tool calls and reasoning."""
    return _message_text(message)
