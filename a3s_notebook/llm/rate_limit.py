"""Requests per minute per provider, shared by every client wrapped with one limiter.

``RequestRateLimiter({"openai": 60})`` holds one token bucket per provider (the lanes'
:class:`~a3s_notebook.engine.lanes.TokenBucket`); :meth:`RequestRateLimiter.wrap` gives a
client whose every ``stream`` call (so every completion, titles included) first takes a
token of its provider, waiting for one if none is there. A batch makes one limiter and
wraps each cell's client with it, so all the cells of this process share the limit.

The bucket holds a single token: calls are spaced evenly, ``60 / rpm`` seconds apart at
the most, never a burst, so no 60-second window ever sees more than ``rpm`` calls (a
provider may count by the second). A call the client retries (429, 5xx, with backoff and
``Retry-After``) takes no second token: the retry policy spaces those.

Safe from any thread and any event loop: the buckets are under a lock, and a wait is an
``await`` on the caller's loop (never a blocked thread).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from a3s_notebook.engine.errors import ConfigError
from a3s_notebook.engine.lanes import TokenBucket
from a3s_notebook.llm.types import LlmClient, Message, StreamEvent, ToolDefinition

__all__ = ["RateLimitedClient", "RequestRateLimiter", "check_rpm"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


def check_rpm(rpm: object, field: str = "provider_rpm") -> dict[str, float]:
    """``{"provider": requests per minute}`` checked: a mapping of provider names to
    numbers > 0; the names in lower case. Anything else is a :class:`ConfigError` naming
    ``field`` and the fix."""
    if not isinstance(rpm, Mapping):
        raise ConfigError(
            f"{field}={rpm!r}: use a dict of provider to requests per minute, e.g. {{'openai': 60}}"
        )
    out: dict[str, float] = {}
    for provider, n in rpm.items():
        if not isinstance(provider, str) or not provider.strip():
            raise ConfigError(f"{field}: {provider!r} is not a provider name (e.g. 'openai')")
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n <= 0:
            raise ConfigError(
                f"{field}={{{provider!r}: {n!r}}}: use requests per minute, a number > 0 "
                "(e.g. 60 for one call a second)"
            )
        out[provider.strip().lower()] = float(n)
    return out


class RequestRateLimiter:
    """At most ``rpm[provider]`` LLM calls a minute per provider, for every client wrapped
    with this limiter (in any thread or loop).

    Args:
        rpm: ``{"openai": 60, "anthropic": 50}``; providers not named are not limited.
        clock: seconds, monotonic (default ``time.monotonic``); tests inject one.
        sleep: how to wait (default ``asyncio.sleep``); tests inject one that moves
            their clock.
    """

    def __init__(
        self,
        rpm: Mapping[str, float],
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.rpm = check_rpm(rpm)
        """The limits, requests per minute by provider (lower case)."""
        self._clock: Clock = clock or time.monotonic
        self._sleep: Sleep = sleep or asyncio.sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self.waited_s = 0.0
        """Seconds the calls waited for a token, in all."""

    def __repr__(self) -> str:
        return f"RequestRateLimiter({self.rpm!r})"

    def limits(self, provider: str) -> bool:
        """Whether ``provider``'s calls are limited."""
        return provider.lower() in self.rpm

    async def acquire(self, provider: str) -> float:
        """Wait until a call to ``provider`` may start (at once when it is not limited);
        the seconds waited."""
        rpm = self.rpm.get(provider.lower())
        if rpm is None:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                bucket = self._buckets.get(provider.lower())
                if bucket is None:
                    bucket = self._buckets[provider.lower()] = TokenBucket(rpm / 60.0, 1.0, now)
                wait = bucket.take(now)
                if wait > 0:
                    self.waited_s += wait
            if wait <= 0:
                return waited
            waited += wait
            await self._sleep(wait)

    def wrap(self, client: LlmClient, provider: str | None = None) -> LlmClient:
        """``client`` itself when its provider (or ``provider``) is not limited, else a
        client whose calls wait for this limiter."""
        key = provider or client.provider
        if not self.limits(key):
            return client
        return RateLimitedClient(client, self, key=key)


class RateLimitedClient:
    """An :class:`LlmClient` whose ``stream`` first waits for its limiter's token; every
    other attribute (``context_window``, a scripted client's ``calls``...) is the inner
    client's."""

    def __init__(
        self, inner: LlmClient, limiter: RequestRateLimiter, *, key: str | None = None
    ) -> None:
        self.inner = inner
        """The wrapped client."""
        self.limiter = limiter
        """The limiter whose tokens the calls take."""
        self.key = (key or inner.provider).lower()
        """The provider whose limit applies (the inner client's, unless given)."""

    @property
    def provider(self) -> str:
        """The inner client's provider."""
        return self.inner.provider

    @property
    def model(self) -> str:
        """The inner client's model."""
        return self.inner.model

    def __getattr__(self, name: str) -> Any:
        # only called for what this class lacks: the inner client's optional extras
        if name in ("inner", "limiter", "key"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return (
            f"RateLimitedClient({self.inner!r}, {self.limiter.rpm.get(self.provider.lower())} rpm)"
        )

    async def stream(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Take a token of the provider (waiting if none is there), then stream."""
        await self.limiter.acquire(self.key)
        async for event in self.inner.stream(messages, system=system, tools=tools):
            yield event
