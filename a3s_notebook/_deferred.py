"""Whether the package's pydantic models build their validators on first use.

The engine and the LLM layer define about a hundred models, most of which a session never
uses; building each one's validator at import was most of the time of a first ``%%ask``.
With ``defer_build`` a model is built when it is first used instead. Pydantic made that
first build safe against threads using the model at the same moment only in 2.14 (a tool
runs in a worker thread, and parallel tool calls can first build the same result model at
once), so older versions keep building at import.
"""

from __future__ import annotations

import pydantic

__all__ = ["DEFER_BUILD"]


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


DEFER_BUILD: bool = _version(pydantic.VERSION) >= (2, 14)
"""``defer_build`` for every model of the engine and the LLM layer."""
