"""Messages, content blocks, usage and the provider protocol.

This is the bottom layer of the package: it imports nothing from the engine. Every
provider (scripted, OpenAI-compatible, Anthropic) speaks these types, and the engine
persists them as JSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from a3s_notebook._deferred import DEFER_BUILD

__all__ = [
    "ContentBlock",
    "Done",
    "LlmClient",
    "LlmResponse",
    "Message",
    "ReasoningDelta",
    "StreamEvent",
    "TextBlock",
    "TextDelta",
    "ThinkingBlock",
    "TokenUsage",
    "ToolCall",
    "ToolDefinition",
    "ToolResultBlock",
    "ToolUseBlock",
    "ToolUseInputDelta",
    "ToolUseStart",
    "parse_tool_arguments",
]

PARSE_ERROR_KEY = "__parse_error"
"""Key a provider puts in a tool call's arguments when the model sent JSON that does not parse."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=DEFER_BUILD)


class TextBlock(_Model):
    """Plain text in a message."""

    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(_Model):
    """The model asks for a tool call."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultBlock(_Model):
    """The result of a tool call, sent back to the model in a user-role message."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False


class ThinkingBlock(_Model):
    """Extended thinking (Anthropic). Kept verbatim with its signature: the API wants it back."""

    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str | None = None


ContentBlock = Annotated[
    TextBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock, Field(discriminator="type")
]


class ToolCall(_Model):
    """A tool call taken out of an assistant message."""

    id: str
    name: str
    args: dict[str, Any]


class Message(_Model):
    """One message of the conversation.

    Tool results are user-role messages holding ``tool_result`` blocks (the Anthropic
    convention, which the OpenAI provider translates).
    """

    role: Literal["user", "assistant"]
    content: list[ContentBlock] = Field(default_factory=list)
    reasoning_content: str | None = None

    @classmethod
    def user(cls, text: str) -> Message:
        """A user message with one text block."""
        return cls(role="user", content=[TextBlock(text=text)])

    @classmethod
    def assistant(cls, text: str) -> Message:
        """An assistant message with one text block."""
        return cls(role="assistant", content=[TextBlock(text=text)])

    @classmethod
    def tool_result(cls, tool_use_id: str, text: str, is_error: bool = False) -> Message:
        """A user-role message that carries one tool result."""
        return cls(
            role="user",
            content=[ToolResultBlock(tool_use_id=tool_use_id, content=text, is_error=is_error)],
        )

    def text(self) -> str:
        """The text blocks joined with no separator (as the reference does)."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    def tool_calls(self) -> list[ToolCall]:
        """The tool calls this message asks for, in order."""
        return [
            ToolCall(id=b.id, name=b.name, args=b.input)
            for b in self.content
            if isinstance(b, ToolUseBlock)
        ]

    def tool_results(self) -> list[ToolResultBlock]:
        """The tool results this message carries, in order."""
        return [b for b in self.content if isinstance(b, ToolResultBlock)]

    def char_count(self) -> int:
        """Characters of all text this message carries (used for the chars/4 estimate)."""
        n = len(self.reasoning_content or "")
        for b in self.content:
            if isinstance(b, TextBlock):
                n += len(b.text)
            elif isinstance(b, ToolUseBlock):
                n += len(b.name) + len(json.dumps(b.input))
            elif isinstance(b, ToolResultBlock):
                n += len(b.content)
            else:
                n += len(b.thinking)
        return n


class TokenUsage(_Model):
    """Tokens of one LLM call (or a sum of calls).

    ``prompt_tokens`` counts every input token, cached or not; ``cache_read_tokens`` and
    ``cache_write_tokens`` say how many of them were read from or written to a prompt
    cache. ``estimated`` is True when the numbers are a characters/4 estimate rather than
    what a provider reported.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    estimated: bool = False

    def __add__(self, other: TokenUsage) -> TokenUsage:
        def opt(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cache_read_tokens=opt(self.cache_read_tokens, other.cache_read_tokens),
            cache_write_tokens=opt(self.cache_write_tokens, other.cache_write_tokens),
            reasoning_tokens=opt(self.reasoning_tokens, other.reasoning_tokens),
            estimated=self.estimated or other.estimated,
        )


class ToolDefinition(_Model):
    """A tool as the model sees it: name, description and a JSON schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


class LlmResponse(_Model):
    """What one LLM call produced."""

    message: Message
    usage: TokenUsage = Field(default_factory=TokenUsage)
    stop_reason: str | None = None
    model: str | None = None
    """The model name the provider reported, when it differs from the one asked for."""


class TextDelta(_Model):
    """A piece of assistant text, as it streams."""

    type: Literal["text_delta"] = "text_delta"
    text: str


class ReasoningDelta(_Model):
    """A piece of reasoning / thinking text, as it streams."""

    type: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ToolUseStart(_Model):
    """The stream announces a tool call."""

    type: Literal["tool_use_start"] = "tool_use_start"
    id: str
    name: str


class ToolUseInputDelta(_Model):
    """A fragment of a tool call's JSON arguments."""

    type: Literal["tool_use_input_delta"] = "tool_use_input_delta"
    id: str
    text: str


class Done(_Model):
    """The last stream event: the whole response with its usage."""

    type: Literal["done"] = "done"
    response: LlmResponse


StreamEvent = Annotated[
    TextDelta | ReasoningDelta | ToolUseStart | ToolUseInputDelta | Done,
    Field(discriminator="type"),
]


@runtime_checkable
class LlmClient(Protocol):
    """What the engine needs from a provider.

    ``stream`` yields :data:`StreamEvent` objects and ends with exactly one :class:`Done`.
    Implementations raise :class:`a3s_notebook.llm.errors.LlmError` subclasses on failure.

    Optional, not part of the protocol (so simple doubles still qualify):
    ``async def context_window() -> int | None`` and a ``known_context_window`` property,
    as the OpenAI and Anthropic clients have; read them through
    :func:`a3s_notebook.llm.factory.context_window_of`.
    """

    @property
    def provider(self) -> str:
        """Provider name, e.g. ``"openai"``, ``"anthropic"``, ``"scripted"``."""
        ...

    @property
    def model(self) -> str:
        """Model name without the provider prefix."""
        ...

    def stream(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one completion."""
        ...


async def complete(
    client: LlmClient,
    messages: list[Message],
    *,
    system: str | None = None,
    tools: list[ToolDefinition] | None = None,
) -> LlmResponse:
    """Run one call to completion and return its response (no streaming to the caller)."""
    async for event in client.stream(messages, system=system, tools=tools):
        if isinstance(event, Done):
            return event.response
    raise RuntimeError(f"{client.provider}/{client.model}: stream ended without a Done event")


def parse_tool_arguments(raw: str, tool_name: str) -> dict[str, Any]:
    """Parse a tool call's JSON arguments as the model sent them.

    Never raises: arguments that are not a JSON object come back as
    ``{"__parse_error": <message>}``, which the agent loop turns into a tool error the
    model can read and correct.
    """
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except RecursionError:
        # arguments nested thousands deep (a confused or hostile model) must not crash
        # the run: the model is told, as for any other bad arguments
        return {
            PARSE_ERROR_KEY: (
                f"the arguments for tool '{tool_name}' are nested too deeply to read. "
                "Send the arguments as one flat JSON object."
            )
        }
    except json.JSONDecodeError as exc:
        snippet = raw if len(raw) <= 200 else raw[:200] + "..."
        return {
            PARSE_ERROR_KEY: (
                f"the arguments for tool '{tool_name}' are not valid JSON ({exc.msg} at "
                f"position {exc.pos}): {snippet!r}. Send the arguments as one JSON object."
            )
        }
    if not isinstance(value, dict):
        return {
            PARSE_ERROR_KEY: (
                f"the arguments for tool '{tool_name}' must be a JSON object, got "
                f"{type(value).__name__}. Send the arguments as one JSON object."
            )
        }
    return value
