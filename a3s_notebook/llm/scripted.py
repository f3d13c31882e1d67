"""The scripted provider: offline, deterministic (being written by the lead; stub)."""

from __future__ import annotations

from a3s_notebook.llm.types import LlmClient


def scripted_client(model: str) -> LlmClient:
    """Return the scripted client for ``scripted/<model>`` (``demo``, ``echo``)."""
    raise NotImplementedError
