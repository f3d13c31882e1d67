"""Skills: Markdown files that teach the agent something, with the tools and rules it needs.

A skill is a ``.md`` file with YAML front matter::

    ---
    name: csv-report
    description: Summarise CSV files into a short report.
    tools: [my_project.tools:column_stats]     # Python functions it gives the agent
    allowed-tools: ["Bash(wc:*)", "Read(data/**)"]   # rules granted while it is loaded
    ---
    When asked about a CSV file, first read its header, then ...

Loading one (:meth:`a3s_notebook.engine.session.Session.load_skill`) adds its text to the
system prompt, registers its tools and adds its allow rules; unloading removes all three.
Skills are found by name in ``./skills/`` of the workspace, then ``~/.a3s/skills/``; a
path works too. Which skills are loaded is part of the session's config, so a restore loads
them again from their files.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3s_notebook.engine.errors import ConfigError

__all__ = ["Skill", "find_skills", "load_skill_file", "parse_skill", "resolve_tool"]

SKILL_DIRS = ("skills",)
"""Folders of the workspace searched for ``<name>.md``, before ``~/.a3s/skills``."""


@dataclass(frozen=True)
class Skill:
    """One parsed skill file."""

    name: str
    description: str
    body: str
    tools: tuple[str, ...] = ()
    """``module:function`` references of the Python functions it gives the agent."""
    allowed_tools: tuple[str, ...] = ()
    """Allow rules granted while the skill is loaded."""
    path: Path | None = None

    def prompt(self) -> str:
        """The text added to the system prompt."""
        return f"## Skill: {self.name}\n{self.description}\n\n{self.body}".rstrip()


def _str_list(value: Any, field: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: '{field}' must be a list of strings, e.g. {field}: [a, b]")


def parse_skill(text: str, *, source: str = "skill", path: Path | None = None) -> Skill:
    """Parse a skill file's text; a malformed one raises :class:`ConfigError` naming the
    file and the field."""
    import yaml  # type: ignore[import-untyped]

    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(
            f"{source}: a skill starts with front matter between '---' lines "
            "(name, description, optional tools and allowed-tools)"
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ConfigError(f"{source}: the front matter has no closing '---' line") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: the front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{source}: the front matter must be 'key: value' lines")
    unknown = sorted(set(meta) - {"name", "description", "tools", "allowed-tools"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown front matter field(s) {', '.join(unknown)}: use name, "
            "description, tools, allowed-tools"
        )
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: 'name' is required (name: my-skill)")
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{source}: 'description' is required (one line saying what it does)")
    return Skill(
        name=name.strip(),
        description=description.strip(),
        body="\n".join(lines[end + 1 :]).strip(),
        tools=_str_list(meta.get("tools"), "tools", source),
        allowed_tools=_str_list(meta.get("allowed-tools"), "allowed-tools", source),
        path=path,
    )


def load_skill_file(path: Path) -> Skill:
    """Read and parse one skill file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"skill file {path}: cannot be read ({exc.strerror or exc})") from None
    return parse_skill(text, source=f"skill file {path}", path=path)


def find_skills(workspace: Path, home: Path | None = None) -> dict[str, Path]:
    """Skill files by file stem: the workspace's ``skills/`` first, then ``~/.a3s/skills``."""
    folders = [workspace / d for d in SKILL_DIRS]
    folders.append((home or Path.home()) / ".a3s" / "skills")
    found: dict[str, Path] = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.glob("*.md")):
                found.setdefault(path.stem, path)
    return found


def resolve_tool(reference: str, source: str) -> Callable[..., Any]:
    """The function a ``module:function`` reference names."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{source}: tool '{reference}' must be 'module:function'")
    try:
        module = importlib.import_module(module_name)
        fn = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{source}: tool '{reference}' cannot be imported ({exc})") from None
    if not callable(fn):
        raise ConfigError(f"{source}: tool '{reference}' is not a function")
    return fn  # type: ignore[no-any-return]
