"""Images a tool call produced (a figure from ``python``, an image a function returned).

They travel as ``ToolResult.metadata["media"]`` to the ``tool_end`` event and the tool's row,
as base64 with one of three image types. Nothing else: HTML and JavaScript outputs would run
in the page, so only the images of a bundle are kept and its plain text stands in for the
rest. Images are bounded (count and bytes) because they are part of the event log.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

__all__ = ["MAX_MEDIA", "MAX_MEDIA_BYTES", "media_from_bundle", "media_from_value", "valid_media"]

MEDIA_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
"""The only types a row shows: images, which cannot run code in an ``<img>``."""
MAX_MEDIA = 8
"""Images kept per tool call; later ones are counted, not kept."""
MAX_MEDIA_BYTES = 1_500_000
"""Base64 characters kept per image (a typical figure is 20-100 KB)."""

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _b64(data: Any, mime: str) -> str | None:
    if isinstance(data, bytes):
        return base64.b64encode(data).decode("ascii")
    if not isinstance(data, str):
        return None
    if mime == "image/svg+xml":
        return base64.b64encode(data.encode("utf-8")).decode("ascii")
    text = "".join(data.split())  # IPython wraps base64 in lines
    if not _B64.fullmatch(text):
        return None
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return text


def media_from_bundle(bundle: dict[str, Any]) -> dict[str, str] | None:
    """The first image of an IPython MIME bundle, as ``{"mime", "data", "alt"}``; or None."""
    alt = bundle.get("text/plain")
    alt_text = alt if isinstance(alt, str) else ""
    for mime in MEDIA_TYPES:
        if mime in bundle:
            data = _b64(bundle[mime], mime)
            if data is not None and len(data) <= MAX_MEDIA_BYTES:
                return {"mime": mime, "data": data, "alt": alt_text[:200]}
    return None


def media_from_value(value: object) -> dict[str, str] | None:
    """An image for a value that knows how to draw itself (``_repr_png_``...), or None."""
    for mime, method in (
        ("image/png", "_repr_png_"),
        ("image/svg+xml", "_repr_svg_"),
        ("image/jpeg", "_repr_jpeg_"),
    ):
        fn = getattr(value, method, None)
        if not callable(fn):
            continue
        try:
            data = fn()
        except Exception:  # a broken repr is the value's problem, not the run's
            continue
        if isinstance(data, tuple):  # (data, metadata)
            data = data[0]
        if data is None:
            continue
        try:
            alt = repr(value)[:200]
        except Exception:
            alt = type(value).__name__
        return media_from_bundle({mime: data, "text/plain": alt})
    return None


def valid_media(items: Any) -> list[dict[str, str]] | None:
    """The media a tool put in its metadata, checked again at the boundary (a custom tool
    could put anything there): at most :data:`MAX_MEDIA` well-formed images, or None."""
    if not isinstance(items, list):
        return None
    kept: list[dict[str, str]] = []
    for item in items:
        if len(kept) >= MAX_MEDIA:
            break
        if not isinstance(item, dict) or item.get("mime") not in MEDIA_TYPES:
            continue
        data = item.get("data")
        if not isinstance(data, str) or len(data) > MAX_MEDIA_BYTES or not _B64.fullmatch(data):
            continue
        alt = item.get("alt")
        kept.append(
            {
                "mime": str(item["mime"]),
                "data": data,
                "alt": alt[:200] if isinstance(alt, str) else "",
            }
        )
    return kept or None
