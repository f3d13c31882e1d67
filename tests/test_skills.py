"""Skills: a Markdown file's text, tools and rules, loaded and unloaded, kept over a restore."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import SessionManager
from a3s_notebook.engine.errors import ConfigError
from a3s_notebook.engine.skills import parse_skill

from .conftest import turn

SKILL = """---
name: shouting
description: Answer in capitals.
tools: [skilltools_demo:shout]
allowed-tools: ["Bash(wc:*)"]
---
When you answer, use the shout tool on your text first.
"""


@pytest.fixture
def skill_workspace(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (workspace / "skills").mkdir()
    (workspace / "skills" / "shouting.md").write_text(SKILL)
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "skilltools_demo.py").write_text(
        "def shout(text: str) -> str:\n"
        "    '''Turn text into capitals.'''\n"
        "    return text.upper()\n"
    )
    monkeypatch.syspath_prepend(str(module_dir))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no skills of the machine's user
    return workspace


async def test_a_skill_adds_text_tools_and_rules_and_unloading_removes_them(
    make_session: Any, manager: SessionManager, skill_workspace: Path
) -> None:
    session = make_session(
        [turn("", ("shout", {"text": "hi"})), turn("HI"), turn("plain")],
        system_prompt="Be brief.",
        allow=["shout"],
    )
    assert "shouting" in session.available_skills()
    session.load_skill("shouting")
    assert session.system_prompt().startswith("Be brief.")  # type: ignore[union-attr]
    assert "## Skill: shouting" in (session.system_prompt() or "")
    assert "shout" in session.tools and "Bash(wc:*)" in session.rules()["allow"]
    result = await session.send_async("say hi")
    assert result.text == "HI"
    assert [b.content for m in session.messages for b in m.tool_results()] == ["HI"]
    # a restore loads the skill again from its file
    manager.forget_session(session.id)
    restored = SessionManager(manager.store).restore_session(session.id)
    assert [s.name for s in restored.skills()] == ["shouting"] and "shout" in restored.tools
    assert restored.unload_skill("shouting") is True
    assert "shout" not in restored.tools and "Bash(wc:*)" not in restored.rules()["allow"]
    assert restored.system_prompt() == "Be brief."
    assert restored.config.skills == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter", "front matter"),
        ("---\nname: x\n", "closing"),
        ("---\nname: x\n---\nbody", "description"),
        ("---\ndescription: d\n---\n", "name"),
        ("---\nname: x\ndescription: d\ncolour: red\n---\n", "unknown"),
        ("---\nname: x\ndescription: d\ntools: 3\n---\n", "tools"),
        ("---\nname: [x\n---\n", "YAML"),
    ],
)
def test_a_broken_skill_file_says_what_and_where(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as info:
        parse_skill(text, source="skill file skills/x.md")
    assert "skills/x.md" in str(info.value)


def test_an_unknown_skill_lists_the_ones_there_are(
    make_session: Any, skill_workspace: Path
) -> None:
    session = make_session([])
    with pytest.raises(ConfigError, match=r"no skill 'nope'.*available: shouting"):
        session.load_skill("nope")
    bad = skill_workspace / "skills" / "bad.md"
    bad.write_text(SKILL.replace("skilltools_demo:shout", "no_such_module_xyz:f"))
    with pytest.raises(ConfigError, match="cannot be imported"):
        session.load_skill("bad")
    assert "bad" not in session.config.skills
    assert sys.modules.get("no_such_module_xyz") is None


def test_skills_from_the_magics(
    skill_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "a3s_notebook")
    try:
        magics = shell.magics_manager.registry["A3sMagics"]
        magics._manager, magics.current = None, None
        magics.sessions_dir = str(tmp_path / "sessions")
        for cell in (
            f"%a3s_session new sk --model scripted/echo --workspace {skill_workspace}",
            "%a3s_session skills load shouting",
            "%a3s_session skills",
        ):
            result = shell.run_cell(cell)
            assert result.error_in_exec is None, result.error_in_exec
        assert [s.name for s in magics.current.skills()] == ["shouting"]
        shell.run_cell("%a3s_session skills unload shouting")
        assert magics.current.skills() == []
    finally:
        shell.run_line_magic("unload_ext", "a3s_notebook")


def test_skill_hooks_fire_on_load_and_unload(make_session: Any, skill_workspace: Path) -> None:
    session = make_session([])
    seen: list[tuple[str, str, list[str]]] = []

    def note(event: str) -> Any:
        def hook(payload: dict[str, Any]) -> None:
            seen.append((event, payload["skill_name"], payload["tool_names"]))

        return hook

    session.hooks.add("skill_load", note("skill_load"), name="on-load")
    session.hooks.add("skill_unload", note("skill_unload"), name="on-unload")
    session.load_skill("shouting")
    session.unload_skill("shouting")
    assert seen == [("skill_load", "shouting", ["shout"]), ("skill_unload", "shouting", ["shout"])]
