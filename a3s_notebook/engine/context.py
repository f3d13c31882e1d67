"""Context providers (engine-spec section 9): what is looked up and added to a prompt.

Before a run's first LLM call the session asks each of its context providers for items
relevant to the prompt (``context_resolving``), renders them into the system prompt and
reports what was injected (``context_resolved``, with each item's source, relevance and a
preview). Each item is rendered as::

    <context source="SRC" type="Memory">
    content
    </context>

items are joined with blank lines and appended to the system prompt after a blank line
(or used alone when there is none). The same context is used for every LLM call of the
run. A provider that fails or takes longer than its timeout is skipped and named in the
``context_resolved`` event; the run goes on.

A provider is any object with a ``name`` and a ``resolve(query)`` (sync or async)
returning :class:`ContextItem` objects, or a plain Python function wrapped by
:class:`FunctionContextProvider`: ``fn(query: str)`` (sync or async) returning a string,
a dict (``content`` plus optional ``source``, ``relevance``, ``type``, ``metadata``), a
:class:`ContextItem`, or a list of them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine.events import AgentEvent, ContextResolved, ContextResolving

if TYPE_CHECKING:
    from a3s_notebook.engine.memory import AgentMemory

__all__ = [
    "DEFAULT_PROVIDER_TIMEOUT_S",
    "ContextDepth",
    "ContextItem",
    "ContextProvider",
    "ContextQuery",
    "ContextType",
    "FunctionContextProvider",
    "MemoryContextProvider",
    "ResolvedContext",
    "as_provider",
    "render_context",
    "resolve_context",
    "turn_complete",
    "with_context",
]

logger = logging.getLogger(__name__)

DEFAULT_PROVIDER_TIMEOUT_S = 30.0
"""How long one provider may take before the run goes on without it."""

_PREVIEW_CHARS = 300


class ContextType(StrEnum):
    """What an item is (serialized by variant name)."""

    MEMORY = "Memory"
    RESOURCE = "Resource"
    SKILL = "Skill"


class ContextDepth(StrEnum):
    """How much detail a provider should return."""

    ABSTRACT = "Abstract"
    OVERVIEW = "Overview"
    FULL = "Full"


class ContextQuery(BaseModel):
    """What the providers are asked: the prompt and the budget."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    query: str
    context_types: list[ContextType] = Field(default_factory=lambda: [ContextType.RESOURCE])
    depth: ContextDepth = ContextDepth.OVERVIEW
    max_results: int = 10
    max_tokens: int = 4000
    session_id: str | None = None
    params: dict[str, str] = Field(default_factory=dict)


class ContextItem(BaseModel):
    """One piece of context. ``token_count`` defaults to ``len(content) // 4``;
    ``relevance`` is clamped to 0..1."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    context_type: ContextType = ContextType.RESOURCE
    content: str
    token_count: int = -1
    relevance: float = 0.0
    source: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("relevance", mode="before")
    @classmethod
    def _relevance(cls, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ValueError("must be a number between 0 and 1")
        return min(1.0, max(0.0, float(v)))

    def model_post_init(self, context: Any, /) -> None:
        """Estimate the tokens when not given."""
        if self.token_count < 0:
            self.token_count = len(self.content) // 4


@runtime_checkable
class ContextProvider(Protocol):
    """Something that finds context for a prompt.

    ``resolve`` may be a coroutine function. An optional
    ``on_turn_complete(session_id, prompt, response)`` (sync or async) is called after
    each finished run.
    """

    name: str

    def resolve(
        self, query: ContextQuery
    ) -> Sequence[ContextItem] | Awaitable[Sequence[ContextItem]]:
        """Items relevant to ``query``."""
        ...


def _to_item(value: Any, provider: str) -> ContextItem:
    if isinstance(value, ContextItem):
        return value
    if isinstance(value, str):
        return ContextItem(content=value, source=provider)
    if isinstance(value, dict):
        data = dict(value)
        if "type" in data and "context_type" not in data:
            data["context_type"] = data.pop("type")
        data.setdefault("source", provider)
        return ContextItem.model_validate(data)
    raise TypeError(
        f"context provider '{provider}' returned a {type(value).__name__}: return a string, "
        "a dict with 'content' (and optional 'source', 'relevance'), a ContextItem, or a "
        "list of them"
    )


def _to_items(value: Any, provider: str) -> list[ContextItem]:
    if value is None:
        return []
    if isinstance(value, (str, dict, ContextItem)):
        return [_to_item(value, provider)]
    try:
        values = list(value)
    except TypeError:
        return [_to_item(value, provider)]
    return [_to_item(v, provider) for v in values]


class FunctionContextProvider:
    """A Python function as a provider: ``fn(query: str)`` returns what to inject.

    A sync function runs in a worker thread (a slow lookup does not block the kernel's
    event loop); an async one is awaited.
    """

    def __init__(self, fn: Callable[[str], Any], name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(
                f"a context provider must be a function or have resolve(query), got "
                f"{type(fn).__name__}"
            )
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "") or "context"
        if self.name == "<lambda>":
            raise ValueError("a lambda has no name: pass name='...' for this context provider")

    def __repr__(self) -> str:
        return f"FunctionContextProvider({self.name!r})"

    async def resolve(self, query: ContextQuery) -> list[ContextItem]:
        """Call the function with the prompt's text."""
        if inspect.iscoroutinefunction(self.fn):
            value = await self.fn(query.query)
        else:
            value = await asyncio.to_thread(self.fn, query.query)
            if inspect.isawaitable(value):
                value = await value
        return _to_items(value, self.name)


class MemoryContextProvider:
    """The session's memory as context: the memories relevant to the prompt (at most
    ``min(max_results, 5)``), typed ``Memory`` with their relevance as score. Every
    finished run is remembered (``remember_success``)."""

    name = "memory"

    def __init__(self, memory: AgentMemory) -> None:
        self.memory = memory

    def __repr__(self) -> str:
        return f"MemoryContextProvider({self.memory.store!r})"

    async def resolve(self, query: ContextQuery) -> list[ContextItem]:
        """Recall memories for the query (file I/O in a worker thread)."""
        found = await self.memory.recall_async(query.query, min(query.max_results, 5))
        return [
            ContextItem(
                id=item.id,
                context_type=ContextType.MEMORY,
                content=item.content,
                relevance=self.memory.relevance(item),
                source="memory",
                metadata={"memory_type": item.memory_type.value, "tags": ",".join(item.tags)},
            )
            for item in found
        ]

    async def on_turn_complete(self, session_id: str, prompt: str, response: str) -> None:
        """Remember the finished run."""
        await self.memory.store_item_async(self.memory.success_item(prompt, [], response))


def as_provider(provider: Any, name: str | None = None) -> ContextProvider:
    """A provider from an object with ``resolve`` or a plain function (named ``name``)."""
    if callable(getattr(provider, "resolve", None)) and not inspect.isfunction(provider):
        if name is not None:
            provider.name = name
        if not isinstance(getattr(provider, "name", None), str) or not provider.name:
            raise ValueError("a context provider needs a non-empty 'name': pass name='...'")
        return provider  # type: ignore[no-any-return]
    return FunctionContextProvider(provider, name)


@dataclass
class ResolvedContext:
    """What the providers gave for one prompt."""

    items: list[tuple[str, ContextItem]] = field(default_factory=list)
    """(provider name, item), in provider order."""
    failed: dict[str, str] = field(default_factory=dict)
    truncated: bool = False

    @property
    def total_tokens(self) -> int:
        """Tokens of the injected items."""
        return sum(item.token_count for _p, item in self.items)

    def text(self) -> str | None:
        """The block appended to the system prompt, or None when nothing was found."""
        return render_context([item for _p, item in self.items]) or None


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


_CLOSE = re.compile(r"</(\s*context)", re.IGNORECASE)


def render_context(items: Sequence[ContextItem]) -> str:
    """The spec's ``<context source=".." type="..">`` blocks, joined with blank lines.
    A ``</context>`` inside an item is escaped so a document cannot end its block early."""
    blocks = []
    for item in items:
        source = f' source="{_attr(item.source)}"' if item.source else ""
        content = _CLOSE.sub(r"&lt;/\1", item.content)
        blocks.append(f'<context{source} type="{item.context_type.value}">\n{content}\n</context>')
    return "\n\n".join(blocks)


def with_context(system: str | None, context: str | None) -> str | None:
    """The system prompt with the context block appended after a blank line."""
    if not context:
        return system
    return f"{system}\n\n{context}" if system else context


async def _one(provider: ContextProvider, query: ContextQuery, timeout: float) -> list[ContextItem]:
    if inspect.iscoroutinefunction(provider.resolve):
        result: Any = await asyncio.wait_for(provider.resolve(query), timeout)
    else:
        # a sync lookup runs in a worker thread: it cannot block the kernel's event loop
        result = await asyncio.wait_for(asyncio.to_thread(provider.resolve, query), timeout)
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, timeout)
    return _to_items(result, provider.name)


async def turn_complete(
    providers: Sequence[ContextProvider], session_id: str, prompt: str, response: str
) -> None:
    """Tell each provider that has ``on_turn_complete`` that a run finished; a failure is
    logged, never raised (the run's answer is already given)."""
    for provider in providers:
        hook = getattr(provider, "on_turn_complete", None)
        if not callable(hook):
            continue
        try:
            result = hook(session_id, prompt, response)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("context provider %s: on_turn_complete failed", provider.name)


async def resolve_context(
    providers: Sequence[tuple[ContextProvider, float]],
    query: ContextQuery,
    emit: Callable[[AgentEvent], None],
) -> ResolvedContext:
    """Ask every provider (side by side), emit ``context_resolving`` / ``context_resolved``
    and return what to inject, within ``query.max_tokens`` (most relevant kept)."""
    resolved = ResolvedContext()
    if not providers:
        return resolved
    emit(ContextResolving(providers=[p.name for p, _t in providers]))
    results = await asyncio.gather(
        *(_one(p, query, timeout) for p, timeout in providers), return_exceptions=True
    )
    found: list[tuple[str, ContextItem]] = []
    for (provider, timeout), result in zip(providers, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, TimeoutError):
                error = f"no answer within {timeout:g} s"
            else:
                error = f"{type(result).__name__}: {result}"
            logger.warning("context provider %s failed: %s", provider.name, error)
            resolved.failed[provider.name] = error
            continue
        found += [(provider.name, item) for item in result[: query.max_results]]
    # the budget keeps the most relevant items; the rest keep their order
    budget, keep = query.max_tokens, set()
    for index, (_p, item) in sorted(enumerate(found), key=lambda e: -e[1][1].relevance):
        if item.token_count <= budget:
            budget -= item.token_count
            keep.add(index)
        else:
            resolved.truncated = True
    resolved.items = [entry for i, entry in enumerate(found) if i in keep]
    emit(
        ContextResolved(
            total_items=len(resolved.items),
            total_tokens=resolved.total_tokens,
            items=[
                {
                    "provider": name,
                    "source": item.source,
                    "type": item.context_type.value,
                    "relevance": round(item.relevance, 4),
                    "tokens": item.token_count,
                    "preview": item.content[:_PREVIEW_CHARS],
                }
                for name, item in resolved.items
            ],
            failed=resolved.failed,
            truncated=resolved.truncated,
        )
    )
    return resolved
