"""Model names and client creation.

A model is named ``provider/model`` (or ``provider:model``): ``openai/gpt-4o-mini``,
``anthropic/claude-sonnet-4-5``, ``ollama/llama3.2``, ``openrouter/meta-llama/llama-3-70b``,
``scripted/demo``. Any other provider name works with ``base_url=`` pointing at an
OpenAI-compatible server.

API keys come from, in order: the ``api_key`` argument; the variable named by
``api_key_env`` (environment, then a ``.env`` file in the current directory); the
provider's own variable (``OPENAI_API_KEY``...), but only for requests to the provider's
own address. A ``base_url`` that is not the provider's own (``http://localhost:8080/v1``
for ``openai/NAME``) never receives the provider's key from the environment: the user's
real OpenAI key must not reach a local or third-party server. Such a server gets the key
given with ``api_key=`` or ``api_key_env=``, or none at all (a placeholder bearer token
the SDK accepts and keyless servers ignore). Providers without a hosted address of their
own (``vllm``, any name used with ``base_url``) read their variable (``VLLM_API_KEY``,
``<NAME>_API_KEY``) for any address: it exists only for the user's own server.

Keys are never logged, never shown in a ``repr`` or an error, and never persisted
(:class:`LlmConfigData` has no field for one).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.llm._retry import RetryConfig, check_timeout
from a3s_notebook.llm._urls import (
    DEFAULT_ANTHROPIC_BASE_URL,
    DEFAULT_OPENAI_BASE_URL,
    NO_KEY_PLACEHOLDER,
    mask_url,
    same_origin,
)
from a3s_notebook.llm.errors import LlmAuthError, UnknownModelError, UnknownProviderError
from a3s_notebook.llm.pricing import known_context_window
from a3s_notebook.llm.types import LlmClient

# The provider clients (and with them the SDKs, thousands of modules) are imported by
# create_client, only for the provider a session uses: the scripted model imports neither.

__all__ = [
    "KNOWN_PROVIDERS",
    "PROVIDER_ALIASES",
    "LlmConfigData",
    "ProviderInfo",
    "RetryConfig",
    "KeyChoice",
    "choose_api_key",
    "context_window_of",
    "create_client",
    "known_context_window_of",
    "parse_model",
    "provider_info",
    "resolve_api_key",
]

logger = logging.getLogger("a3s_notebook.llm")


@dataclass(frozen=True)
class ProviderInfo:
    """What the factory knows about a provider.

    Attributes:
        name: the canonical provider name.
        kind: which client serves it: ``openai`` (any OpenAI-compatible server),
            ``anthropic`` or ``scripted``.
        env_var: the environment variable holding its key, if it has one.
        base_url: the default server address; ``None`` when the user must give one.
        needs_key: whether a request without a key is pointless.
        placeholder_key: sent when no key is configured, for servers that want some
            bearer token but check none.
    """

    name: str
    kind: Literal["openai", "anthropic", "scripted"]
    env_var: str | None
    base_url: str | None
    needs_key: bool
    placeholder_key: str | None = None


KNOWN_PROVIDERS: dict[str, ProviderInfo] = {
    p.name: p
    for p in (
        ProviderInfo("openai", "openai", "OPENAI_API_KEY", DEFAULT_OPENAI_BASE_URL, True),
        ProviderInfo(
            "anthropic", "anthropic", "ANTHROPIC_API_KEY", DEFAULT_ANTHROPIC_BASE_URL, True
        ),
        ProviderInfo(
            "ollama", "openai", "OLLAMA_API_KEY", "http://localhost:11434/v1", False, "ollama"
        ),
        ProviderInfo(
            "openrouter", "openai", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1", True
        ),
        ProviderInfo("deepseek", "openai", "DEEPSEEK_API_KEY", "https://api.deepseek.com/v1", True),
        ProviderInfo("groq", "openai", "GROQ_API_KEY", "https://api.groq.com/openai/v1", True),
        # vLLM's own examples use "EMPTY" as the key of a server started without --api-key
        ProviderInfo("vllm", "openai", "VLLM_API_KEY", None, False, "EMPTY"),
        # local servers on their usual ports: no key needed
        ProviderInfo(
            "lmstudio", "openai", "LMSTUDIO_API_KEY", "http://localhost:1234/v1", False, "lm-studio"
        ),
        ProviderInfo(
            "llamacpp", "openai", "LLAMACPP_API_KEY", "http://localhost:8080/v1", False, "none"
        ),
        ProviderInfo("scripted", "scripted", None, None, False),
    )
}
"""The providers that work by name alone (``vllm`` still needs ``base_url``)."""

PROVIDER_ALIASES: dict[str, str] = {"claude": "anthropic"}
"""Other names accepted for a known provider."""

_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FORM_HINT = "write it as provider/model, e.g. openai/gpt-4o-mini"


def _known_list() -> str:
    names = []
    for name in KNOWN_PROVIDERS:
        aliases = [a for a, target in PROVIDER_ALIASES.items() if target == name]
        names.append(f"{name} (or {', '.join(aliases)})" if aliases else name)
    return ", ".join(names)


def parse_model(name: str) -> tuple[str, str]:
    """Split ``provider/model`` or ``provider:model`` into ``(provider, model)``.

    The split is at the first ``/`` or ``:``, whichever comes first, so the model part
    may hold more of either (``openrouter/meta-llama/llama-3-70b``, ``ollama/qwen3:8b``).
    The provider is lower-cased and aliases resolved (``claude`` -> ``anthropic``); the
    provider need not be known here (see :func:`create_client`).

    Raises:
        UnknownModelError: an empty name, a name with no provider part, or an empty part.
    """
    text = (name or "").strip()
    if not text:
        raise UnknownModelError(f"the model name is empty: {_FORM_HINT}")
    cut = min((i for i in (text.find("/"), text.find(":")) if i >= 0), default=-1)
    if cut < 0:
        raise UnknownModelError(
            f"the model name {text!r} has no provider: {_FORM_HINT} (known providers: "
            f"{_known_list()})"
        )
    provider = text[:cut].strip().lower()
    model = text[cut + 1 :].strip()
    if not provider or not model:
        raise UnknownModelError(f"the model name {text!r} is incomplete: {_FORM_HINT}")
    if not _PROVIDER_NAME.match(provider):
        raise UnknownModelError(
            f"the provider part {provider!r} of {text!r} is not a provider name (letters, "
            f"digits, '-', '_', '.'): {_FORM_HINT}"
        )
    return PROVIDER_ALIASES.get(provider, provider), model


def _env_name(provider: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", provider.upper()) + "_API_KEY"


def provider_info(provider: str, base_url: str | None = None) -> ProviderInfo:
    """The :class:`ProviderInfo` for a provider name (aliases allowed).

    An unknown provider is accepted as an OpenAI-compatible server when ``base_url`` is
    given; its key is read from ``<PROVIDER>_API_KEY`` and is optional.

    Raises:
        UnknownProviderError: an unknown provider and no ``base_url``.
    """
    name = provider.strip().lower()
    name = PROVIDER_ALIASES.get(name, name)
    info = KNOWN_PROVIDERS.get(name)
    if info is not None:
        return info
    if not base_url:
        raise UnknownProviderError(
            f"unknown provider {name!r}: use one of {_known_list()}, or pass base_url=... "
            "for any OpenAI-compatible server"
        )
    return ProviderInfo(name, "openai", _env_name(name), None, False, NO_KEY_PLACEHOLDER)


def resolve_api_key(env_var: str | None, api_key: str | None = None) -> str | None:
    """The key to use: ``api_key``, else ``env_var`` from the environment, else from a
    ``.env`` file in the current directory (read only; the environment is not changed)."""
    if api_key and api_key.strip():
        return api_key.strip()
    if env_var is None:
        return None
    value = os.environ.get(env_var)
    if value and value.strip():
        return value.strip()
    dotenv_file = Path.cwd() / ".env"
    if dotenv_file.is_file():
        from dotenv import dotenv_values

        value = dotenv_values(dotenv_file).get(env_var)
        if value and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class KeyChoice:
    """Which key a client gets, and what an auth error should tell the user.

    Attributes:
        key: the key to send; None when there is none (a placeholder goes instead).
        env_var: the variable the key comes from or should come from, if any.
        own_server: the base URL is not the provider's own address.
        auth_hint: the fix an auth error names, when the default one would mislead.
    """

    key: str | None
    env_var: str | None
    own_server: bool
    auth_hint: str | None = None


def choose_api_key(
    info: ProviderInfo,
    base_url: str | None,
    *,
    api_key: str | None = None,
    api_key_env: str | None = None,
) -> KeyChoice:
    """The key for a client of ``info`` at ``base_url`` (see the module doc for the rules).

    Raises:
        ValueError: ``api_key_env`` is not a variable name (the key itself, say); the
            message does not repeat the value.
        LlmAuthError: ``api_key_env`` names a variable that is not set, or a hosted
            provider at its own address has no key.
    """
    url = base_url or info.base_url
    own_server = bool(base_url) and not same_origin(base_url, info.base_url)
    # the provider's variable may go to its own address, or anywhere for providers that
    # have no hosted address (their variable exists only for the user's own server)
    env_allowed = info.base_url is None or not own_server
    if api_key_env is not None:
        name = api_key_env.strip()
        if not _ENV_NAME.match(name):
            raise ValueError(
                "api_key_env must be the name of an environment variable (letters, digits "
                "and _), not the key itself: pass a key with api_key=..."
            )
        if api_key and api_key.strip():
            return KeyChoice(api_key.strip(), name, own_server)
        key = resolve_api_key(name)
        if key is None:
            raise LlmAuthError(
                f"api_key_env={name!r} names a variable that is not set (environment or a "
                f".env file): set {name} to the key of {mask_url(url or info.name)}, or leave "
                "api_key_env out for a server that needs no key"
            )
        return KeyChoice(key, name, own_server)
    hint = None
    if own_server and not env_allowed:
        hint = (
            "Pass this server's key with api_key=... or name the variable holding it with "
            f"api_key_env=... ({info.env_var} is only sent to {info.base_url})"
        )
    if api_key and api_key.strip():
        return KeyChoice(api_key.strip(), info.env_var, own_server, hint)
    if env_allowed:
        return KeyChoice(resolve_api_key(info.env_var), info.env_var, own_server, hint)
    return KeyChoice(None, None, own_server, hint)


def create_client(
    model: str,
    *,
    api_key: str | None = None,
    api_key_env: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    thinking_budget: int | None = None,
    retry: RetryConfig | None = None,
    timeout: float | Any | None = None,
) -> LlmClient:
    """The client for a ``provider/model`` name.

    Args:
        model: ``provider/model`` or ``provider:model``.
        api_key: the key; overrides every variable.
        api_key_env: the name of the environment variable (or ``.env`` entry) holding the
            key, e.g. ``"MY_SERVER_KEY"``: the way to give a custom server a key without
            writing it into a notebook. Never the key itself.
        base_url: the server address; required for ``vllm`` and for unknown providers.
            When it is not the provider's own address, the provider's variable
            (``OPENAI_API_KEY``...) is not read: see the module doc.
        temperature: sampling temperature; the provider's default when ``None``.
        max_tokens: cap on generated tokens (Anthropic: 8192 unless given).
        thinking_budget: thinking tokens: Anthropic's extended thinking
            (``thinking={"type": "enabled", "budget_tokens": N}``, N >= 1024); for
            OpenAI-compatible providers the ``reasoning_effort`` level
            :func:`~a3s_notebook.llm.openai_provider.reasoning_effort_for` maps it to
            (under 4096 low, under 16384 medium, else high), which reasoning models read
            and other models may refuse.
        retry: retry rules; :class:`RetryConfig` defaults when ``None``.
        timeout: seconds to wait for a connection and for each piece of the answer, or an
            ``httpx.Timeout``; ``None`` keeps the default (600 s, 10 s to connect).

    Raises:
        UnknownModelError: the name does not parse.
        UnknownProviderError: an unknown provider without ``base_url``, or ``vllm``
            without ``base_url``.
        LlmAuthError: a hosted provider at its own address without a key, or an
            ``api_key_env`` that is not set.
        ValueError: a ``timeout`` that is not positive, or an ``api_key_env`` that is not
            a variable name.
    """
    provider, model_name = parse_model(model)
    info = provider_info(provider, base_url)
    check_timeout(timeout)
    if info.kind == "scripted":
        from a3s_notebook.llm.scripted import scripted_client

        return scripted_client(model_name)

    url = base_url or info.base_url
    if not url:
        raise UnknownProviderError(
            f"{provider} has no default server address: pass base_url=..., e.g. "
            "base_url='http://localhost:8000/v1'"
        )
    choice = choose_api_key(info, base_url, api_key=api_key, api_key_env=api_key_env)
    if choice.key is None and info.needs_key and not choice.own_server:
        raise LlmAuthError(
            f"No API key for {provider}: set {info.env_var} (environment or a .env file) "
            "or pass api_key=..."
        )

    if info.kind == "anthropic":
        from a3s_notebook.llm.anthropic_provider import AnthropicClient

        return AnthropicClient(
            model_name,
            api_key=choice.key or NO_KEY_PLACEHOLDER,
            base_url=url,
            max_tokens=max_tokens,
            temperature=temperature,
            thinking_budget=thinking_budget,
            retry=retry,
            timeout=timeout,
            api_key_env=choice.env_var,
            auth_hint=choice.auth_hint,
        )
    from a3s_notebook.llm.openai_provider import OpenAIClient, reasoning_effort_for

    return OpenAIClient(
        model_name,
        base_url=url,
        api_key=choice.key or info.placeholder_key,
        provider=provider,
        api_key_env=choice.env_var,
        temperature=temperature,
        max_tokens=max_tokens,
        retry=retry,
        timeout=timeout,
        own_server=choice.own_server or info.base_url is None or _is_local(url),
        auth_hint=choice.auth_hint,
        reasoning_effort=None if thinking_budget is None else reasoning_effort_for(thinking_budget),
    )


def _is_local(url: str) -> bool:
    """A loopback address: the user's own server, whatever the provider name says."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


async def context_window_of(client: LlmClient) -> int | None:
    """The context window (tokens) of ``client``'s model, or None when nobody says.

    Uses the client's own ``async context_window()`` when it has one (the OpenAI-compatible
    client asks the user's own server once, lazily, with a short timeout, then genai-prices;
    the Anthropic client asks genai-prices), else genai-prices' data for
    (``client.provider``, ``client.model``). The scripted provider and local servers that
    say nothing give None: the caller keeps its own default (the engine's
    ``SessionConfig.max_context_length``). Never raises.
    """
    probe = getattr(client, "context_window", None)
    try:
        if callable(probe):
            value = await probe()
            return value if isinstance(value, int) and value > 0 else None
        return known_context_window(client.model, client.provider)
    except Exception:  # a client double or a broken probe must not break a session
        logger.debug("context window of %s/%s unknown", client.provider, client.model)
        return None


def known_context_window_of(client: LlmClient) -> int | None:
    """What :func:`context_window_of` knows without any request: an earlier probe's answer
    or genai-prices' value, else None. Never raises."""
    try:
        if hasattr(client, "known_context_window"):
            value = client.known_context_window
            return value if isinstance(value, int) and value > 0 else None
        return known_context_window(client.model, client.provider)
    except Exception:
        return None


class LlmConfigData(BaseModel):
    """The persistable part of a model choice: provider, model and server address.

    There is deliberately no ``api_key`` field; unknown fields (such as a key in a file
    written by hand) are dropped on load.
    """

    model_config = ConfigDict(extra="ignore", defer_build=DEFER_BUILD)

    provider: str
    model: str
    base_url: str | None = None

    @property
    def name(self) -> str:
        """``provider/model``."""
        return f"{self.provider}/{self.model}"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # repr() and str() show the address with its credentials masked
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if name == "base_url" and value else value)

    @classmethod
    def from_model(cls, model: str, base_url: str | None = None) -> LlmConfigData:
        """Parse a ``provider/model`` name (see :func:`parse_model`)."""
        provider, model_name = parse_model(model)
        return cls(provider=provider, model=model_name, base_url=base_url)
