"""Where the built front end lives, and a clear error when it has not been built.

The ES modules and the stylesheets are bundled from ``js/`` by esbuild into
``a3s_notebook/static/``: per widget ``<name>.js`` (its ``_esm``, which also carries the
shared theme and puts it into the page once) and ``<name>.css`` (its ``_css``: only its
own rules, so a page with every widget holds each rule once). They are build output, not
kept in git: a wheel carries them (the hatch build hook runs the npm build), a source
checkout builds them with ``make js``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR", "THEME", "WIDGET_MODULES", "asset", "check_assets"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""``a3s_notebook/static/``."""

WIDGET_MODULES = (
    "event_stream",
    "context_bar",
    "task_table",
    "approval_cards",
    "usage_panel",
    "session_header",
    "memory_table",
)
"""One ES module per widget (the entries of ``js/build.mjs``)."""

THEME = "theme.css"
"""The shared stylesheet (variables, shared classes); the ES modules embed it."""


def asset(name: str) -> Path:
    """The path of a built file in ``static/`` (``"event_stream"`` -> ``event_stream.js``)."""
    return STATIC_DIR / (name if "." in name else f"{name}.js")


def check_assets(static_dir: Path = STATIC_DIR) -> None:
    """Raise ImportError naming the fix when a bundle is missing.

    anywidget would otherwise fail with a bare ``FileNotFoundError`` while the widget
    classes are being defined.
    """
    wanted = [f"{m}{ext}" for m in WIDGET_MODULES for ext in (".js", ".css")] + [THEME]
    missing = [name for name in wanted if not (static_dir / name).is_file()]
    if missing:
        raise ImportError(
            "a3s_notebook.widgets: the widgets' front end has not been built "
            f"(missing in {static_dir}: {', '.join(missing)}). It is build output, not kept "
            "in git. In a source checkout run `make js` (or `cd js && npm install && "
            "npm run build`; needs Node.js 20+), or install a released wheel, which "
            "contains it."
        )
