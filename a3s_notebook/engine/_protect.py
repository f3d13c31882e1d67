"""What keeps a session's secrets in and hostile text out.

:class:`Protection` holds the session's secret registry (seeded from the environment and
the ``.env`` files the key lookup may read), redacts messages and events with it, and
wires the security guard (when ``SessionConfig.security_config`` turns it on): screening
prompts and tool output, sanitizing text, and telling of it with ``security`` events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from a3s_notebook.engine._secrets import SecretRegistry, StreamRedactor
from a3s_notebook.engine.errors import SecurityBlockedError
from a3s_notebook.engine.events import AgentEvent, SecurityEvent, event_to_dict, parse_event
from a3s_notebook.engine.security import SecurityConfig, SecurityGuard
from a3s_notebook.llm.types import Message, TextBlock, ToolCall

# the one text field of each delta event
_DELTA_FIELDS = {"text_delta": "text", "reasoning_delta": "text", "tool_output_delta": "delta"}

__all__ = ["Protection"]


class Protection:
    """A session's secrets registry and security guard; ``emit`` tells of what they do."""

    def __init__(self, emit: Callable[[AgentEvent], None]) -> None:
        self._emit = emit
        self.secrets = SecretRegistry()
        """Values that never leave the process: they become ``[REDACTED:<name>]``."""
        self.guard: SecurityGuard | None = None
        """The security guard, when the config turns it on."""

    # --- secrets -------------------------------------------------------------------

    def load_known_secrets(self, workspace: Path) -> None:
        """Register the secrets this process knows: secret-looking environment variables
        and every value of the ``.env`` files the key lookup may read."""
        self.secrets.add_environ()
        for folder in {Path.cwd(), workspace}:
            for path in sorted(folder.glob(".env*")):
                if path.is_file():
                    self.secrets.add_dotenv(path)

    def stream_redactor(self) -> StreamRedactor:
        """A redactor for one stream of chunks (tool output, model text)."""
        return StreamRedactor(self.secrets)

    def redact_event(self, event: AgentEvent) -> AgentEvent:
        """The event with every known secret redacted (the same event when none is in it)."""
        # the last line of defence: no known secret reaches a subscriber (widgets, stream())
        # or the file, whatever path it took into an event
        if not len(self.secrets):
            return event
        field = _DELTA_FIELDS.get(event.type)
        if field is not None:
            # the hot path (every streamed chunk): one scan of the chunk, no dump of the event
            text = getattr(event, field)
            if not self.secrets.contains(text):
                return event
            return event.model_copy(update={field: self.secrets.redact(text)})
        data = event_to_dict(event)
        clean = self.secrets.redact_data(data)
        if clean == data:
            return event
        parsed = parse_event(clean)
        return parsed if parsed is not None else event

    def redact_message(self, message: Message) -> Message:
        """The message as it may be stored: the model's text sanitized by the guard, and
        every known secret redacted."""
        if message.role == "assistant" and self.guard is not None:
            message = message.model_copy(
                update={
                    "content": [
                        b.model_copy(update={"text": self.sanitize(b.text, "model_output")})
                        if isinstance(b, TextBlock)
                        else b
                        for b in message.content
                    ]
                }
            )
        data = message.model_dump(mode="json", exclude_none=True)
        clean = self.secrets.redact_data(data)
        return message if clean == data else Message.model_validate(clean)

    # --- the security guard ----------------------------------------------------------

    def configure(self, config: SecurityConfig | None) -> None:
        """(Re)build the guard from the session's security config (None: no guard)."""
        if config is None or not config.enabled:
            self.guard = None
            return
        self.guard = SecurityGuard(config, self.secrets)

    def security_event(
        self,
        action: Literal["blocked", "redacted", "flagged", "asked"],
        rule: str,
        where: str,
        message: str,
        call: ToolCall | None = None,
    ) -> None:
        self._emit(
            SecurityEvent(
                action=action,
                rule=rule,
                where=where,
                message=message,
                tool_id=call.id if call is not None else None,
                tool_name=call.name if call is not None else None,
            )
        )

    def screen_prompt(self, prompt: str) -> None:
        """Run the injection detector on a prompt; raise when it blocks."""
        guard = self.guard
        if guard is None:
            return
        verdict = guard.check_prompt(prompt)
        if verdict is not None and verdict.action == "block":
            self.security_event("blocked", verdict.rule, "prompt", verdict.message)
            raise SecurityBlockedError(verdict.message)

    def screen_tool_output(self, call: ToolCall, output: str) -> str:
        """Sanitize a tool's output and flag injections in it (never blocks)."""
        guard = self.guard
        if guard is None:
            return output
        flagged = guard.scan_tool_output(call.name, output)
        if flagged is not None:
            self.security_event("flagged", flagged.rule, "tool_output", flagged.message, call)
        return self.sanitize(output, "tool_output", call)

    def sanitize(self, text: str, where: str, call: ToolCall | None = None) -> str:
        """Text with what the guard's output sanitizer finds redacted (one ``security``
        event per rule that fired)."""
        guard = self.guard
        if guard is None or not text:
            return text
        clean, redactions = guard.sanitize_output(text, where=where)
        counts: dict[str, int] = {}
        for red in redactions:
            counts[red.rule] = counts.get(red.rule, 0) + 1
        for rule, n in counts.items():
            self.security_event(
                "redacted", rule, where, f"{n} value{'s' if n > 1 else ''} redacted", call
            )
        return clean
