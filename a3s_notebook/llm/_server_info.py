"""What an OpenAI-compatible server says about itself: context window and token counts.

Only used for servers at a custom ``base_url`` (the user's own llama.cpp, vLLM, Ollama,
LM Studio...). Every function here is best-effort: a short timeout, no redirects, no
exception ever (None when the server does not say), so a probe can never break a call.

Context window, in this order (the first answer wins):

* llama.cpp's ``llama-server``: ``GET {root}/props`` → ``default_generation_settings.n_ctx``
  (the window the server runs with, ``-c``);
* ``GET {base}/models``, the entry of this model (or the only one): ``max_model_len``
  (vLLM), ``loaded_context_length``, ``n_ctx``, ``context_length``, ``context_window``
  (Groq), ``max_context_length``, then ``meta.n_ctx`` / ``meta.n_ctx_train``
  (llama.cpp's trained window);
* Ollama: ``POST {root}/api/show {"model": ...}`` → ``num_ctx`` in ``parameters`` (what the
  model runs with), else ``GET {root}/api/ps`` → the loaded model's ``context_length``,
  else ``model_info["<arch>.context_length"]`` (the trained window, an upper bound:
  Ollama runs with a smaller default unless ``num_ctx`` is set).

Ollama is asked first when the provider is ``ollama`` or the port is 11434.
llama-cpp-python's server reports no window at all.

Token counts: ``POST {root}/tokenize`` (llama.cpp ``{"content"}``, vLLM ``{"prompt"}``;
one body serves both) and ``POST {root}/extras/tokenize/count`` (llama-cpp-python).
``{root}`` is the base URL without a trailing ``/v1``.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Any

__all__ = [
    "PROBE_TIMEOUT_S",
    "TOKENIZE_ENDPOINTS",
    "context_window_from_models",
    "count_tokens",
    "probe_context_window",
    "request_json",
    "server_root",
]

PROBE_TIMEOUT_S = 2.0
"""Seconds one probe request may take (connect and read)."""

_MAX_BODY = 4_000_000

TOKENIZE_ENDPOINTS = ("/tokenize", "/extras/tokenize/count")
"""Paths (under the server root) tried for token counts, in order."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # a redirect could carry the Authorization header to another host: never follow one
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def server_root(base_url: str) -> str:
    """``base_url`` without a trailing ``/`` and ``/v1`` (where llama.cpp's and Ollama's
    own endpoints live)."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _request_json_sync(
    method: str, url: str, body: Any, headers: dict[str, str], timeout: float
) -> Any:
    if not url.startswith(("http://", "https://")):
        return None
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Accept": "application/json", "Content-Type": "application/json", **headers},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                return None
            raw = response.read(_MAX_BODY)
        return json.loads(raw)
    except Exception:
        # refused, timed out, 404, not JSON...: the server does not say
        return None


async def request_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> Any:
    """The JSON a server answers with HTTP 200, or None (never raises).

    Runs in a worker thread so any event loop can await it.
    """
    return await asyncio.to_thread(_request_json_sync, method, url, body, headers or {}, timeout)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    return None


def _from_props(props: Any) -> int | None:
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict):
        n = _positive_int(settings.get("n_ctx"))
        if n is not None:
            return n
    return _positive_int(props.get("n_ctx"))


_MODEL_KEYS = (
    "max_model_len",
    "loaded_context_length",
    "n_ctx",
    "context_length",
    "context_window",
    "max_context_length",
)


def context_window_from_models(payload: Any, model: str) -> int | None:
    """The context window in a ``GET /models`` answer, for ``model`` (or the only entry)."""
    entries = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        return None
    entries = [e for e in entries if isinstance(e, dict)]
    chosen = [e for e in entries if e.get("id") == model or e.get("name") == model]
    if not chosen and len(entries) == 1:
        chosen = entries
    for entry in chosen:
        for key in _MODEL_KEYS:
            n = _positive_int(entry.get(key))
            if n is not None:
                return n
        meta = entry.get("meta")
        if isinstance(meta, dict):
            for key in ("n_ctx", "n_ctx_train"):
                n = _positive_int(meta.get(key))
                if n is not None:
                    return n
    return None


_NUM_CTX = re.compile(r"(?m)^\s*num_ctx\s+(\d+)")


async def _ollama_window(
    root: str, model: str, headers: dict[str, str], timeout: float
) -> int | None:
    show = await request_json(
        "POST", f"{root}/api/show", {"model": model}, headers=headers, timeout=timeout
    )
    if not isinstance(show, dict):
        return None
    params = show.get("parameters")
    if isinstance(params, str) and (m := _NUM_CTX.search(params)):
        return int(m.group(1))
    running = await request_json("GET", f"{root}/api/ps", headers=headers, timeout=timeout)
    if isinstance(running, dict) and isinstance(running.get("models"), list):
        for entry in running["models"]:
            if isinstance(entry, dict) and model in (entry.get("name"), entry.get("model")):
                n = _positive_int(entry.get("context_length"))
                if n is not None:
                    return n
    info = show.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if isinstance(key, str) and key.endswith(".context_length"):
                n = _positive_int(value)
                if n is not None:
                    return n
    return None


async def probe_context_window(
    base_url: str,
    model: str,
    *,
    headers: dict[str, str] | None = None,
    provider: str = "",
    timeout: float = PROBE_TIMEOUT_S,
) -> int | None:
    """The context window the server at ``base_url`` reports for ``model``, or None.

    Never raises; each request waits at most ``timeout`` seconds.
    """
    headers = headers or {}
    base = base_url.rstrip("/")
    root = server_root(base)

    async def props() -> int | None:
        return _from_props(
            await request_json("GET", f"{root}/props", headers=headers, timeout=timeout)
        )

    async def models() -> int | None:
        payload = await request_json("GET", f"{base}/models", headers=headers, timeout=timeout)
        return context_window_from_models(payload, model)

    async def ollama() -> int | None:
        return await _ollama_window(root, model, headers, timeout)

    order = [props, models, ollama]
    if provider == "ollama" or re.search(r":11434(/|$)", base):
        order = [ollama, props, models]
    for probe in order:
        try:
            n = await probe()
        except Exception:  # pragma: no cover - request_json already swallows errors
            n = None
        if n is not None:
            return n
    return None


def _count_from(payload: Any) -> int | None:
    if not isinstance(payload, dict):
        return None
    count = payload.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    tokens = payload.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None


def _tokenize_body(path: str, model: str, text: str) -> dict[str, Any]:
    if path == "/extras/tokenize/count":
        return {"input": text, "model": model}
    # llama.cpp reads "content", vLLM "prompt"; each ignores the other's field
    return {"content": text, "prompt": text, "model": model, "add_special": False}


async def count_tokens(
    base_url: str,
    model: str,
    texts: list[str],
    *,
    endpoint: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> tuple[list[int], str] | None:
    """Count each text with the server's tokenizer: ``(counts, endpoint used)`` or None.

    ``endpoint`` (a path from :data:`TOKENIZE_ENDPOINTS`) skips the search when a
    previous call found it. Never raises.
    """
    root = server_root(base_url)
    paths = [endpoint] if endpoint else list(TOKENIZE_ENDPOINTS)
    for path in paths:

        async def one(text: str, path: str = path) -> int | None:
            if not text:
                return 0
            payload = await request_json(
                "POST",
                root + path,
                _tokenize_body(path, model, text),
                headers=headers,
                timeout=timeout,
            )
            return _count_from(payload)

        first = await one(texts[0]) if texts else 0
        if first is None:
            continue
        rest = await asyncio.gather(*(one(t) for t in texts[1:]))
        if any(n is None for n in rest):
            return None
        return [first, *(n for n in rest if n is not None)], path
    return None
