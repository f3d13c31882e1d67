"""Command line: ``python -m a3s_notebook demo`` runs the offline demo in a terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]


async def _demo(args: argparse.Namespace) -> int:
    from a3s_notebook._console import ConsolePrinter
    from a3s_notebook.engine import (
        ConfirmationRequired,
        PermissionPolicy,
        SessionConfig,
        SessionManager,
    )

    workspace = Path(args.workspace or tempfile.mkdtemp(prefix="a3s-demo-"))
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "data.csv").write_text("city,visitors\nParis,120\nOslo,45\nLima,80\n")
    (workspace / "README.txt").write_text("A small workspace for the a3s_notebook demo.\n")
    manager = SessionManager(workspace / ".a3s" / "sessions")
    session = manager.create_session(
        SessionConfig(
            name="demo",
            workspace=str(workspace),
            permission_policy=PermissionPolicy.notebook(),
        ),
        model=args.model,
    )
    print(f"a3s_notebook demo: session {session.id}, model {session.model_name}")
    print(f"workspace: {workspace}")
    print(f"rules: {session.rules()}")
    print()
    interactive = sys.stdin.isatty() and not (args.approve or args.deny)
    printer = ConsolePrinter()
    async for event in session.stream_async(args.prompt):
        printer(event)
        if isinstance(event, ConfirmationRequired):
            if interactive:
                answer = await asyncio.to_thread(input, "  approve? [y/N] ")
                ok = answer.strip().lower() in ("y", "yes")
                reason = None if ok else (await asyncio.to_thread(input, "  reason: ")) or None
            else:
                ok = not args.deny
                reason = None if ok else "the demo was run with --deny"
                print(f"  (no terminal to ask: {'approving' if ok else 'denying'} automatically)")
            session.confirm(event.tool_id, ok, reason, decided_by="demo user")
    print()
    usage = session.total_usage
    cost = session.total_cost
    print("usage summary")
    print(f"  LLM calls:      {len(session.cost_records)}")
    print(f"  input tokens:   {usage.prompt_tokens}")
    print(f"  output tokens:  {usage.completion_tokens}")
    print(f"  total tokens:   {usage.total_tokens}{' (estimated)' if usage.estimated else ''}")
    shown = "no price for this model" if cost is None else f"${cost:.6f}"
    print(f"  cost:           {shown}")
    cu = session.context_usage
    print(f"  context:        {cu.used_tokens}/{cu.max_tokens} tokens ({cu.percent:.1%})")
    notes = workspace / "notes.md"
    print(f"  notes.md:       {'written' if notes.exists() else 'not written'}")
    print(f"  session file:   {workspace / '.a3s' / 'sessions' / (session.id + '.jsonl')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m a3s_notebook`` and the ``a3s-notebook`` script."""
    parser = argparse.ArgumentParser(prog="python -m a3s_notebook")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the offline scripted demo and print its events")
    demo.add_argument(
        "--model", default="scripted/demo", help="provider/model (default: scripted/demo)"
    )
    demo.add_argument("--workspace", help="folder for the agent (default: a new temp folder)")
    demo.add_argument("--prompt", default="Look at my workspace and write notes about it")
    group = demo.add_mutually_exclusive_group()
    group.add_argument("--approve", action="store_true", help="approve every request")
    group.add_argument("--deny", action="store_true", help="deny every request")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return asyncio.run(_demo(args))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
