"""Write the example notebooks (and run them, so the checked cells carry their outputs).

    python notebooks/make_notebooks.py          # write and execute all of them
    python notebooks/make_notebooks.py --no-run # write only
    python notebooks/make_notebooks.py --check  # committed outputs open clean (make lint)

Nobody clicks in a headless run, so an approval there times out. A committed notebook must
carry no output or a real, successful one: outputs that hold a timed-out approval or a path
of the machine that ran them are dropped (the cell shows its output when a person runs it).

Cells whose output is deterministic carry the tag ``nbval-check-output``: under
``pytest --nbval-lax`` those outputs must match; the other cells only have to run.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
CHECK = "nbval-check-output"


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str, check: bool = False) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip())
    if check:
        cell.metadata["tags"] = [CHECK]
    return cell


QUICKSTART = [
    md("""
# a3s_notebook: quickstart

Run an LLM agent in a notebook cell and watch it work: its text streams in, every tool call
shows up as a row, the context bar and the task table move, and any tool call that needs a
human shows an **approval card** in the cell.

This notebook runs **offline**: the model is `scripted/demo`, a built-in scripted agent that
plans, looks at the workspace, asks to write a file and then answers. The last section shows
how to switch to a real provider.
"""),
    code("%load_ext a3s_notebook"),
    md("""
## A small workspace

The agent may only touch files inside its session's workspace (paths with `..`, absolute
paths outside it and symlinks that lead out are refused). We start from a fresh folder with
one CSV file, so the notebook behaves the same every time.
"""),
    code("""
import shutil
from pathlib import Path

ws = Path("quickstart-ws")
shutil.rmtree(ws, ignore_errors=True)
ws.mkdir()
(ws / "sales.csv").write_text("city,visitors\\nParis,120\\nOslo,45\\nLima,80\\n")
sorted(p.name for p in ws.iterdir())
""", check=True),
    md("""
## Open a session

`%a3s_session new NAME` starts a session and makes it the current one. New sessions allow the
read-only tools (`read`, `ls`, `glob`, `grep`) and the agent's task list (`todo_write`);
everything else (`write`, `edit`, `bash`) asks you first.
"""),
    code("%a3s_session new demo --workspace quickstart-ws"),
    code("%a3s_session rules", check=True),
    md("""
## Ask

The cell body is the prompt (`{name}` would be filled from your variables). The agent writes a
plan, lists the files, then asks to write `notes.md`: **Approve** it, **Deny** it (the reason
you type is what the model is told), or **Always allow** (which adds an allow rule for
`write`). If nobody answers before the timeout, the call is rejected.
"""),
    code("""
%%ask
Look at the files in my workspace and write notes about them.
"""),
    md("""
## The result

The answer is the cell's value, so `_` holds it in the next cell: its text, its token usage and
its cost (`None` for the scripted model, which has no price).

In Voila, which shows the page only once every cell has run, a run that needs your approval goes
on in the background: `_` is then its handle, which becomes the result (the same `.text`,
`.usage` and `.cost_usd`) when the run ends, and `await _` waits for it.
"""),
    code("""
answer = _
if answer.done():
    print(answer.text)
    print("tokens:", answer.usage.total_tokens, "(estimated)" if answer.usage.estimated else "")
    print("cost:", answer.cost_usd)
else:  # Voila: the run waits for your approval above, in the background
    print("Still running: approve or deny above; the answer then shows there.")
"""),
    code("""
notes = ws / "notes.md"
if notes.exists():
    print(notes.read_text())
else:
    print("notes.md was not written (denied, or nobody answered)")
"""),
    code("%a3s_session tasks"),
    code("%a3s_session cost"),
    md("""
## Switch to a real provider

> **This cell needs an API key.** Set `OPENAI_API_KEY` (or `ANTHROPIC_API_KEY`) in your
> environment or in a `.env` file next to the notebook. Keys are never written to the
> session files. Any OpenAI-compatible server works too:
> `%a3s_session new local --model ollama/llama3.2` or
> `--model vllm/<model>` with `%config A3sMagics...` / `base_url` in Python.
"""),
    code("""
import os

if os.environ.get("OPENAI_API_KEY"):
    %a3s_session new real --model openai/gpt-4o-mini --workspace quickstart-ws
else:
    print("No OPENAI_API_KEY: staying offline. Set it, then run: "
          "%a3s_session new real --model openai/gpt-4o-mini")
"""),
]

APPROVALS = [
    md("""
# Approvals and permissions

Every tool call the model asks for goes through two gates:

1. **Permission rules** decide `allow`, `deny` or `ask`. Precedence: any deny rule wins, then
   any allow rule, then any ask rule, then the default (**ask**).
2. For **ask**, a **confirmation**: a human approves or denies, or the timeout decides
   (reject by default, or approve). Tools in a **YOLO lane** skip the confirmation.

Rules are strings: `Tool` (every call of that tool) or `Tool(pattern)`: `Bash(git:*)` is a
prefix match on the command, `Write(src/**)` a glob on the path, `mcp__server` covers all of
a server's tools. Tool names are case-insensitive.
"""),
    code("""
import asyncio, json, shutil
from pathlib import Path

from a3s_notebook import (ConfirmationPolicy, PermissionPolicy, ScriptedClient, ScriptedTurn,
                          SessionConfig, SessionManager, load_sessions)
from a3s_notebook.engine import TimeoutAction
from a3s_notebook.widgets import SessionView

root = Path(".a3s/nb02")
shutil.rmtree(root, ignore_errors=True)
ws = root / "ws"
ws.mkdir(parents=True)
(ws / "a.txt").write_text("alpha\\n")
manager = SessionManager(root / "sessions")


def call(name, **args):
    return {"name": name, "args": args}
"""),
    md("""## What a policy decides

Bash rules are matched on the parsed command: `Bash(echo:*)` allows `echo`, not
`echo hi; rm x`, and `Bash(rm:*)` also catches `cd . && /bin/rm`. A `write` rule covers
`edit` too (one family). Protected files such as `.env` are never read without a rule that
names them."""),
    code("""
policy = PermissionPolicy(allow=["read", "Bash(echo:*)"], deny=["Bash(rm:*)"], ask=["write"])
for tool, args in [
    ("read", {"file_path": "a.txt"}),
    ("bash", {"command": "echo hi"}),
    ("bash", {"command": "echo hi; touch x"}),
    ("Bash", {"command": "cd . && /bin/rm -rf /"}),
    ("write", {"file_path": "b.txt"}),
    ("edit", {"file_path": "a.txt"}),
    ("read", {"file_path": "./.env"}),
]:
    decision, rule = policy.explain(tool, args)
    print(f"{tool:5} {json.dumps(args):36} -> {decision.value:5} ({rule or 'default'})")
""", check=True),
    md("""
## A run through the rules

The scripted model asks for four tool calls at once. `rm` is refused by the deny rule; `echo`
runs; `read` runs; `write` waits for you. The card waits 5 seconds here; if nobody clicks,
the call is rejected and the model is told so.
"""),
    code("""
session = manager.create_session(
    SessionConfig(
        workspace=str(ws),
        permission_policy=policy,
        confirmation_policy=ConfirmationPolicy.enabled_policy().with_timeout(5000),
    ),
    llm=ScriptedClient([
        ScriptedTurn(text="Working on it.", tool_calls=[
            call("read", file_path="a.txt"),
            call("bash", command="echo hello"),
            call("bash", command="rm -rf /tmp/whatever"),
            call("write", file_path="b.txt", content="beta\\n"),
        ]),
        ScriptedTurn(text="Finished."),
    ]),
    session_id="rules",
)
SessionView(session)
"""),
    code("result = await session.send_async(\"do some work\")"),
    md("What the model was told for each call (the deny and the confirmation outcome included):"),
    code("""
for block in session.messages[2].tool_results():
    print("error" if block.is_error else "ok   ", block.content.splitlines()[0][:90])
"""),
    md("""
## Timeouts: reject or approve

`ConfirmationPolicy.with_timeout(ms, action)` sets how long a card waits and what happens when
nobody answers. With `AUTO_APPROVE` the call runs after the timeout.
"""),
    code("""
auto = manager.create_session(
    SessionConfig(
        workspace=str(ws),
        confirmation_policy=ConfirmationPolicy.enabled_policy().with_timeout(
            300, TimeoutAction.AUTO_APPROVE),
    ),
    llm=ScriptedClient([
        ScriptedTurn(tool_calls=[
            call("write", file_path="auto.txt", content="approved by the clock\\n"),
        ]),
        ScriptedTurn(text="Done."),
    ]),
)
events = []
auto.subscribe(lambda e: events.append(e.type))
await auto.send_async("write it")
print([e for e in events if e.startswith("confirmation")])
print((ws / "auto.txt").read_text().strip())
""", check=True),
    md("""
## YOLO lanes

Tools belong to lanes: read-only tools to **Query**, tools with effects to **Execute**. A
lane listed in `yolo_lanes` never waits for a human (deny rules still apply).
"""),
    code("""
yolo = ConfirmationPolicy.enabled_policy().with_yolo_lanes(["query"])
for tool in ["read", "grep", "ls", "write", "bash"]:
    print(f"{tool:5} needs a human: {yolo.requires_confirmation(tool)}")
""", check=True),
    md("""
## "Always allow" turns into a visible rule

Clicking **Always allow** on a card calls `session.confirm(tool_id, True, always=True)`: the
call runs and the narrowest useful allow rule is added, the one the card shows on its button:
the tool on that file (`Write(c1.txt)`), for bash the command's first word (`Bash(ls:*)`),
never the bare tool. Here code plays the human.
"""),
    code("""
trusting = manager.create_session(
    SessionConfig(workspace=str(ws), confirmation_policy=ConfirmationPolicy.enabled_policy()),
    llm=ScriptedClient([
        ScriptedTurn(tool_calls=[call("write", file_path="c1.txt", content="1")]),
        ScriptedTurn(tool_calls=[call("edit", file_path="c1.txt", old_string="1", new_string="2")]),
        ScriptedTurn(tool_calls=[call("write", file_path="c2.txt", content="2")]),
        ScriptedTurn(text="Both written."),
    ]),
)
asked = []

def click_always(event):
    if event.type == "confirmation_required":
        asked.append(f"{event.tool_name} {event.args['file_path']} -> {event.suggested_rule}")
        asyncio.get_running_loop().call_soon(
            lambda: trusting.confirm(event.tool_id, True, always=True))

trusting.subscribe(click_always)
await trusting.send_async("write two files")
print("asked:", asked)   # the edit of c1.txt did not ask: Write(c1.txt) covers it
print("rules:", trusting.rules())
trusting.remove_rule("Write(c1.txt)")
print("after remove:", trusting.rules())
""", check=True),
    md("## The audit trail: every request, who decided, and why"),
    code("""
frames = load_sessions(root / "sessions")
frames.confirmations[["tool_name", "asked_because", "decision", "decided_by", "rule_added"]]
"""),
]

COSTS = [
    md("""
# Cost analysis across sessions

Every LLM call is one row of the ledger: tokens (cache reads and writes included), cost in
USD, latency, time to first token, and the notebook cell that asked. Totals are always
derived from the rows. A cost is `<NA>` (never 0) when no price is known.

Prices come from `genai-prices`. The scripted models have no price, so this notebook gives
them one, the same way you would add a negotiated rate or a model the library does not know.
"""),
    code("""
import shutil
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from a3s_notebook import (PermissionPolicy, SessionConfig, SessionManager, load_sessions)
from a3s_notebook.analysis import cost_by_day, cost_by_model, cost_by_session
from a3s_notebook.engine import BudgetExceededError
from a3s_notebook.llm.pricing import set_price

root = Path(".a3s/nb03")
shutil.rmtree(root, ignore_errors=True)
ws = root / "ws"
ws.mkdir(parents=True)
(ws / "data.csv").write_text("x,y\\n1,2\\n")
manager = SessionManager(root / "sessions")

set_price("demo-fast", provider="scripted", input_per_mtok=3.0, output_per_mtok=15.0)
set_price("echo", provider="scripted", input_per_mtok=0.15, output_per_mtok=0.6)
"""),
    md("## Three sessions on two models"),
    code("""
allow_all = PermissionPolicy(allow=["read", "ls", "glob", "grep", "todo_write", "write"])
for name, model, prompts in [
    ("analyst", "scripted/demo-fast", ["Summarise the data", "Write notes again"]),
    ("helper", "scripted/echo", ["hello", "how are you", "bye"]),
    ("reviewer", "scripted/demo-fast", ["Review the workspace"]),
]:
    s = manager.create_session(
        SessionConfig(name=name, workspace=str(ws), permission_policy=allow_all),
        model=model, session_id=name,
    )
    for p in prompts:
        await s.send_async(p)
costs = manager.costs()
costs[["session_id", "model", "turn", "input_tokens", "output_tokens", "cost_usd", "tool_names"]]
"""),
    code(
        'cost_by_model(costs)[["calls", "input_tokens", "output_tokens", "cost_usd"]]',
        check=True,
    ),
    code('cost_by_session(costs)[["calls", "total_tokens", "cost_usd"]]', check=True),
    code("cost_by_day(costs)"),
    md("## Cost over time and tokens per call"),
    code("""
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
costs.sort_values("timestamp").set_index("timestamp")["cost_usd"].cumsum().plot(
    ax=a, drawstyle="steps-post", title="cumulative cost (USD)")
costs[["input_tokens", "output_tokens"]].plot.bar(ax=b, stacked=True, title="tokens per call")
b.set_xticks([])
fig.tight_layout()
"""),
    md("""
## A budget that stops a run

`SessionConfig(cost_limit_usd=...)` (or `token_limit=...`) stops a session **before** a call
that would start past the limit: no request is sent, the event stream says why, and a typed
`BudgetExceededError` is raised.
"""),
    code("""
capped = manager.create_session(
    SessionConfig(name="capped", workspace=str(ws), permission_policy=allow_all,
                  cost_limit_usd=0.02),
    model="scripted/demo-fast", session_id="capped",
)
runs = 0
try:
    while True:
        await capped.send_async(f"task {runs}")
        runs += 1
except BudgetExceededError as exc:
    print(f"stopped after {runs} runs:", exc.limit, exc.limit_value, "spent", round(exc.used, 4))
""", check=True),
    md("## Reading the files back: thousands of sessions into one frame"),
    code("""
frames = load_sessions(root / "sessions")
print(frames)
frames.calls.groupby("model")["cost_usd"].sum().round(6)
""", check=True),
]

TEACHING = [
    md("""
# Teaching demo: what an LLM agent does

A step-by-step demo for a class. Everything is **deterministic**: the model is scripted, so
the same cells give the same results every time. Run the cells one by one and talk through
each step.
"""),
    code("%load_ext a3s_notebook"),
    code("""
import shutil
from pathlib import Path

ws = Path("teaching-ws")
shutil.rmtree(ws, ignore_errors=True)
ws.mkdir()
(ws / "grades.csv").write_text("student,grade\\nAda,18\\nLin,15\\nSam,12\\n")
"""),
    md("""
## Step 1: a model answers a prompt

The simplest exchange: one prompt, one answer, no tools. `scripted/echo` repeats the prompt.
`{topic}` in the cell is filled from the variable below.
"""),
    code("""
%a3s_session new class --model scripted/echo --workspace teaching-ws
topic = "photosynthesis"
"""),
    code("""
%%ask
Explain {topic} in one sentence.
"""),
    code("print(_.text)", check=True),
    md("""
## Step 2: an agent uses tools

An **agent** is a loop: the model answers, and when the answer asks for a tool (list files,
read, write...), the program runs the tool and sends the result back, until the model gives
a final answer. The demo agent plans (the task table), looks (`ls`), then asks to `write`.

Writing changes the world, so a human approves it: click **Approve** or **Deny**.
"""),
    code("%a3s_session config model=scripted/demo"),
    code("""
%%ask
Look at the grades and write a short summary.
"""),
    md("## Step 3: what the model actually saw"),
    code("""
session = get_ipython().magics_manager.registry["A3sMagics"].current
for i, m in enumerate(session.messages[2:], start=3):
    calls = [c.name for c in m.tool_calls()]
    results = [r.content.splitlines()[0][:50] for r in m.tool_results()]
    print(f"{i:2} {m.role:9} {m.text()[:40]!r:44} {calls or ''}{results or ''}")
"""),
    md("""
## Step 4: nothing is hidden: the session file

Every message, tool call, decision and cost is one event, one line of a JSON Lines file you
can open: the same events the live view showed. A restore replays them.
"""),
    code("""
from collections import Counter
import json

lines = Path(".a3s/sessions/class.jsonl").read_text().splitlines()
Counter(json.loads(line)["type"] for line in lines)
"""),
    md("## Step 5: what it cost (in tokens; the scripted model has no price)"),
    code("%a3s_session cost"),
]

SESSIONS = [
    md("""
# Sessions: fork, pause, compact, restore

A session is a conversation with its own model, workspace, rules and ledger, kept in one
append-only JSON Lines file. This notebook forks one, pauses it, compacts its history and
restores it from its file as a new kernel would.
"""),
    code("""
import shutil
from pathlib import Path

from a3s_notebook import SessionConfig, SessionManager
from a3s_notebook.engine import SessionPausedError
from a3s_notebook.widgets import ContextBar

root = Path(".a3s/nb05")
shutil.rmtree(root, ignore_errors=True)
manager = SessionManager(root / "sessions")
base = manager.create_session(SessionConfig(name="base", workspace=str(root / "ws")),
                              model="scripted/echo", session_id="base")
first = await base.send_async("We are planning a trip.")
print(first.text)
"""),
    md("## Fork: two futures from one history"),
    code("""
fork = manager.fork_session("base", "fork", name="by train")
await base.send_async("Let's fly.")
await fork.send_async("Let's take the train.")
for s in (base, fork):
    print(f"{s.name:9} parent={s.config.parent_id}:", [m.text() for m in s.messages])
""", check=True),
    md("## Pause and resume"),
    code("""
base.pause()
try:
    await base.send_async("anyone there?")
except SessionPausedError as exc:
    print(exc)
base.resume()
print(base.state.value)
""", check=True),
    md("""
## Compaction and the context bar

A session with a small context window (2,000 tokens) and auto-compaction at 60%. Each call's
prompt tokens fill the bar; at the threshold the history is compacted: the first 2 messages,
a summary, and the last 20 messages are kept.
"""),
    code("""
small = manager.create_session(
    SessionConfig(name="small", workspace=str(root / "ws"), max_context_length=2000,
                  auto_compact=True, auto_compact_threshold=0.6),
    model="scripted/echo", session_id="small",
)
compactions = []
small.subscribe(lambda e: compactions.append(e) if e.type == "context_compacted" else None)
bar = ContextBar(small)
bar
"""),
    code("""
for i in range(25):
    await small.send_async(f"message number {i}: " + "words " * 20)
print("compactions:", [(c.before_messages, c.after_messages) for c in compactions])
print("messages now:", len(small.messages))
""", check=True),
    md("## Restore after a kernel restart"),
    code("""
manager.close()                               # a kernel shutdown: the files stay, the locks go
fresh = SessionManager(root / "sessions")     # what a new kernel sees: only the files
print(sorted(fresh.store.list()))
again = fresh.get_session("fork")
print(again.config.name, again.config.parent_id, [m.text() for m in again.messages])
print("same history:", [m.text() for m in again.messages] == [m.text() for m in fork.messages])
""", check=True),
]

YOUR_TOOLS = [
    md("""
# Your tools: functions, your variables, notebooks, MCP servers, hooks and skills

The agent gets the tools you give it, and every one of them goes through the same rules,
approvals and event log as the built-in ones. Offline: a scripted model plays the agent.
"""),
    code("""
import asyncio, shutil, sys
from pathlib import Path

import nbformat
import pandas as pd
from a3s_notebook import (ConfirmationPolicy, PermissionPolicy, ScriptedClient, ScriptedTurn,
                          SessionConfig, SessionManager)
from a3s_notebook.engine.tools import tool
from a3s_notebook.notebook_tools import (InspectTool, NotebookEditTool, NotebookReadTool,
                                         ProposeCellTool, PythonTool)

root = Path(".a3s/nb06")
shutil.rmtree(root, ignore_errors=True)
ws = root / "ws"
(ws / "skills").mkdir(parents=True)
manager = SessionManager(root / "sessions")
sales = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "units": [12, 30, 21]})

# a notebook in the workspace for the agent to read and edit
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell("print('old')"), nbformat.v4.new_markdown_cell("notes")]
nbformat.write(nb, ws / "report.ipynb")

# a skill: text for the system prompt, plus the rules it grants while loaded
(ws / "skills" / "tidy.md").write_text(
    "---\\nname: tidy\\ndescription: Keep answers short.\\nallowed-tools: ['Bash(ls:*)']\\n---\\n"
    "Answer in one sentence.\\n"
)


def call(tool_name, **args):
    return {"name": tool_name, "args": args}
"""),
    md("## A Python function is a tool: its schema comes from the signature and docstring"),
    code("""
@tool(lane="query")
def celsius(fahrenheit: float) -> float:
    \"\"\"Convert a temperature from Fahrenheit to Celsius.\"\"\"
    return round((fahrenheit - 32) * 5 / 9, 1)

celsius(98.6), celsius.parameters["properties"]
""", check=True),
    md("""
## One session with all of it

`inspect` looks at your variables (read-only, no approval); `python` runs code in your
namespace (it asks: here code plays the human who approves); `notebook_read` and
`notebook_edit` work on a notebook's cells; `propose_cell` suggests your next cell; an MCP
server adds its tools as `mcp__units__...`; a `pre_tool_use` hook refuses a call with a
reason the model sees; a skill adds its text to the system prompt.
"""),
    code("""
script = ScriptedClient([
    ScriptedTurn(text="Converting first.", tool_calls=[call("celsius", fahrenheit=98.6)]),
    ScriptedTurn(tool_calls=[call("inspect", name="sales")]),
    ScriptedTurn(tool_calls=[call("python", code="total = int(sales['units'].sum())\\ntotal")]),
    ScriptedTurn(tool_calls=[call("notebook_edit", file_path="report.ipynb", edit_mode="replace",
                                  index=0, new_source="print('edited by the agent')")]),
    ScriptedTurn(tool_calls=[call("notebook_read", file_path="report.ipynb")]),
    ScriptedTurn(tool_calls=[call("mcp__units__km_to_miles", km=42.2)]),
    ScriptedTurn(tool_calls=[call("bash", command="rm -rf old-data")]),
    ScriptedTurn(tool_calls=[call("propose_cell", code="sales.plot.bar(x='city', y='units')")]),
    ScriptedTurn(text="Done: 63 units in all; a marathon is 26.22 miles."),
])
policy = PermissionPolicy.notebook().allow_rule("celsius", "inspect", "notebook_read",
                                                "Edit(report.ipynb)", "mcp__units", "bash")
session = manager.create_session(
    SessionConfig(workspace=str(ws), permission_policy=policy,
                  confirmation_policy=ConfirmationPolicy.enabled_policy().with_timeout(30_000)),
    llm=script,
)
session.add_tool(celsius)
namespace = lambda: globals()
for t in (InspectTool(namespace), PythonTool(namespace), NotebookReadTool(namespace),
          NotebookEditTool(), ProposeCellTool()):
    session.add_tool(t)
session.add_mcp_server("units", sys.executable, [str(Path("units_server.py").resolve())])

@session.hook("pre_tool_use", matcher="bash")
def no_rm(payload):
    if "rm " in payload["args"].get("command", ""):
        return {"decision": "deny", "reason": "this notebook never deletes files"}

session.load_skill("tidy")

def approve(event):  # the human who clicks Approve on the python card
    if event.type == "confirmation_required":
        asyncio.get_running_loop().call_soon(lambda: session.confirm(event.tool_id, True))

session.subscribe(approve)
result = await session.send_async("How many units did we sell, and what is a marathon in miles?")
print(result.text)
"""),
    md("## What happened, call by call"),
    code("""
for m in session.messages:
    for r in m.tool_results():
        print(("error " if r.is_error else "ok    ") + r.content.splitlines()[0][:70])
print("total in your namespace:", total)
print("report.ipynb cell 0:", nbformat.read(ws / "report.ipynb", as_version=4).cells[0].source)
print("skills:", [s.name for s in session.skills()], "| rules added by the skill:",
      [r for r in session.rules()["allow"] if r.startswith("Bash(ls")])
""", check=True),
    code("""
session.remove_mcp_server("units")   # stops the server process
manager.close()
"""),
]

MEMORY_PLANNING_SUBAGENTS = [
    md("""
# Memory, plans and sub-agents

Three things an agent needs for work longer than one prompt, shown offline on scripted
models:

1. **memory** that outlives a session: what one run remembers, the next session recalls;
2. a **plan** in the task table and a **goal** whose progress is tracked step by step;
3. **sub-agents**: child sessions that work in parallel and report back, shown nested in
   their parent's view.

Nothing here waits for a human: the only tool that would need an approval (`ls` in the
sub-agents) is allowed by a rule.
"""),
    code("""
import shutil
from pathlib import Path

from a3s_notebook import ScriptedClient, ScriptedTurn, SessionConfig, SessionManager
from a3s_notebook.widgets import SessionView

root = Path(".a3s/nb07")
shutil.rmtree(root, ignore_errors=True)
ws = root / "ws"
ws.mkdir(parents=True)
(ws / "sales.csv").write_text("city,units\\nOslo,12\\nLima,30\\nPune,21\\n")
(ws / "notes.md").write_text("# Notes\\nThe chart goes in the quarterly report.\\n")
manager = SessionManager(root / "sessions")


def call(tool_name, **args):
    return {"name": tool_name, "args": args}
"""),
    md("""
## 1. Memory across two runs

`memory="file"` keeps memories in the workspace (`.a3s/memories/memories.jsonl`), so every
session on that workspace shares them. On Monday the model calls the `remember` tool; the
finished run is remembered too (what worked, as a procedural memory).
"""),
    code("""
config = SessionConfig(workspace=str(ws), memory="file")
monday = manager.create_session(config, session_id="monday", llm=ScriptedClient([
    ScriptedTurn(text="I'll keep that.", tool_calls=[call(
        "remember", content="The user wants every chart in plotly",
        importance=0.9, tags=["prefs"], memory_type="semantic")]),
    "Noted: plotly it is.",
]))
print((await monday.send_async("Remember: I like my charts in plotly.")).text)
print(monday.memories()[["content", "type", "importance", "tags"]].to_string())
""", check=True),
    md("""
On Tuesday a **new session** (a new kernel would do the same) works on the same workspace.
The memory context provider puts the relevant memories into the model's system prompt
before the run, and the model can also `recall` on its own:
"""),
    code("""
tuesday_model = ScriptedClient([
    ScriptedTurn(tool_calls=[call("recall", query="plotly charts")]),
    "A plotly bar chart of units by city, as you asked on Monday.",
])
tuesday = manager.create_session(config, session_id="tuesday", llm=tuesday_model)
print((await tuesday.send_async("How should the sales chart look?")).text)
print("--- what recall returned to the model:")
print(tuesday_model.requests[1][-1].tool_results()[0].content)
print("--- the memory part of the system prompt:")
print(tuesday_model.systems[0][tuesday_model.systems[0].index("<context"):])
""", check=True),
    md("""
## 2. A plan in the task table, a goal with its progress

`planning_enabled` asks the model for a plan before the prompt runs: its steps become the
task table and are run one at a time. `goal_tracking` extracts the goal, reports progress
after each step and asks the model at the end whether the goal is achieved. The view
below shows the header (with the goal), the event stream and the task table as the run
goes (`scripted/echo` plans offline).
"""),
    code("""
planner = manager.create_session(
    SessionConfig(workspace=str(ws), planning_enabled=True, goal_tracking=True),
    model="scripted/echo", session_id="planner",
)
plan_view = SessionView(planner)
plan_view
"""),
    code("""
result = await planner.send_async("List the files, then count the lines")
print(result.text)
for e in planner.events():
    if e.type == "goal_progress":
        print(f"goal progress: {e.completed_steps}/{e.total_steps} steps = {e.progress:.0%}")
print("goal:", planner.goal.description, "| achieved:", planner.goal.achieved)
print("criteria:", planner.goal.success_criteria)
""", check=True),
    code("""
print(plan_view.tasks_widget._repr_markdown_())
""", check=True),
    md("""
## 3. Two sub-agents in parallel

With `max_subagent_depth=1` the model gets the `task` tool: each call starts a child
session with its own history and log, and several calls in one response run in parallel
(`max_parallel_subagents`, 2 by default). `scripted/team` starts two `explore` sub-agents
and sums up their reports. The children get copies of the parent's rules: allowing `ls`
here lets them list the workspace without asking anyone.

In the view, each `task` row holds its sub-agent's tool calls and answer (open it).
"""),
    code("""
project = root / "project"
(project / "src").mkdir(parents=True)
(project / "README.md").write_text("# Project\\n")
(project / "src" / "app.py").write_text("print('hi')\\n")
lead = manager.create_session(
    SessionConfig(workspace=str(project), max_subagent_depth=1, max_parallel_subagents=2),
    model="scripted/team", session_id="lead",
)
lead.allow("ls")
team_view = SessionView(lead)
team_view
"""),
    code("""
order = []
lead.subscribe(lambda e: order.append(e.type) if e.type in ("subagent_start", "subagent_end")
               else None)
print((await lead.send_async("map the project")).text)
print("order:", order)  # both started before either finished: they ran in parallel
""", check=True),
    md("The nested rows of the view, as data: each `task` call and what its sub-agent did."),
    code("""
for row in team_view.events_widget.transcript():
    if row.get("name") == "task":
        print(f"task {row['args']['description']!r} ({row['args']['agent']}): {row['status']}")
        for child in row["children"]:
            detail = f"{child['name']} {child['args']}" if child["kind"] == "tool" else ""
            print(f"    {child['kind']:6} {detail or child['text'][:70]}")
children = manager.get_child_sessions(lead.id)
print([c.config.name for c in children], {c.parent_session_id for c in children})
""", check=True),
    code("manager.close()"),
]

BATCH = [
    md("""
# Batch runs, models side by side, and replay

Three tools for when one conversation is not enough, all offline here (scripted models):

1. `run_batch`: a grid of prompts x models (x settings), one real, logged session per cell,
   gathered into a DataFrame; resumable, with a budget, and on a Dask cluster if you like.
2. `%%ask -m a,b,c`: one prompt on several models at once, one column each.
3. `manager.replay(...)`: a recorded session played back into a fresh view, for a class.
"""),
    code("""
%load_ext a3s_notebook
import shutil
from pathlib import Path

import pandas as pd
from a3s_notebook import PermissionPolicy, SessionConfig, SessionManager, run_batch

root = Path(".a3s/nb08")
shutil.rmtree(root, ignore_errors=True)
pd.set_option("display.max_colwidth", 60)
"""),
    md("""
## A 3 x 2 grid

Each cell of the grid is a session with its own log in `folder` (and its own workspace).
Nobody watches a batch, so approvals are settled by the rules alone: here `ls` and
`todo_write` are allowed, and the `write` that `scripted/demo-fast` asks for would need a
human, so it is **denied** with the reason *batch run: no human to approve*, which the model
sees, and counted in `approvals_denied`. A progress bar shows cells done, running, failed and
the cost so far.
"""),
    code("""
prompts = ["Summarise the sales", "List the open questions", "Draft the weekly note"]
models = ["scripted/echo", "scripted/demo-fast"]
rules = SessionConfig(permission_policy=PermissionPolicy(allow=["ls", "todo_write"]))
grid = run_batch(prompts, models=models, config=rules, concurrency=4, folder=root / "batch")
"""),
    code("""
grid[["prompt", "model", "status", "tool_calls", "approvals_denied", "tokens"]]
""", check=True),
    code("""
print(grid.answer[1])
""", check=True),
    md("""
Run it again and nothing runs: every cell's log is complete, so its row is read back from
the log (`resumed`). Cells that failed, or were skipped because `budget_usd` was spent, run
on the next call.
"""),
    code("""
again = run_batch(prompts, models=models, config=rules, folder=root / "batch", progress=None)
again[["prompt", "model", "status", "resumed"]]
""", check=True),
    md("""
The logs are ordinary session logs, so the usual readers work on the folder:
`a3s_notebook.load_sessions(root / "batch")`.

On a Dask cluster, pass `client=`: each worker makes its own session manager on the shared
`folder` and writes its own log (the folder must be shared by the workers, e.g. NFS).

```python
from distributed import Client
client = Client("tcp://scheduler:8786")        # or Client(LocalCluster(n_workers=4))
run_batch(prompts, models=models, folder="/shared/a3s/batch", client=client)
```

## Side by side

`%%ask -m a,b` runs the prompt on each model at once, each in a fork of the current session
(same history and rules), one column per model with its live stream, approvals, answer,
tokens, cost and latency. The cell's value holds the runs (`.frame()` for a table).
"""),
    code("""
%a3s_session new compare --model scripted/echo --workspace .a3s/nb08/ws --create
%a3s_session allow write
"""),
    code("""
%%ask -m scripted/echo,scripted/demo-fast
Look at the workspace and write notes.
"""),
    code("""
_.frame()[["model", "tool_calls", "error"]]
""", check=True),
    md("""
## Replay for teaching

Record a run before class; replay it in front of the class: the same events, in a fresh
view, with the recorded timing (here four times as fast, no pause longer than 5 s). Nothing
runs again: no model, no network, no tool. Approvals show as they were decided.
"""),
    code("""
manager = SessionManager(root / "batch")
recorded = grid.session_id[1]          # the demo-fast cell of the first prompt
manager.replay(recorded, speed=4)
"""),
    md("Without a view (for a script, or to check what a replay shows):"),
    code("""
replay = await manager.replay(recorded, speed=1000).play_async()
print(replay.played, "events replayed;", len(replay.session.messages), "messages")
print(replay.session.messages[-1].text()[:60])
""", check=True),
]

NOTEBOOKS = {
    "01-quickstart.ipynb": QUICKSTART,
    "02-approvals-and-permissions.ipynb": APPROVALS,
    "03-cost-analysis.ipynb": COSTS,
    "04-teaching-demo.ipynb": TEACHING,
    "05-sessions.ipynb": SESSIONS,
    "06-your-tools.ipynb": YOUR_TOOLS,
    "07-memory-planning-subagents.ipynb": MEMORY_PLANNING_SUBAGENTS,
    "08-batch-and-replay.ipynb": BATCH,
}


def write(name: str, cells: list[nbformat.NotebookNode]) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"
    }
    nb.metadata["language_info"] = {"name": "python"}
    path = HERE / name
    nbformat.write(nb, path)
    return path


# what a committed output must not hold: a headless run's timed-out approval, a machine path
_UNCLEAN = re.compile(
    r"timed out waiting for confirmation|(?<![\w.])/(?:work|home|root|tmp|Users|private)/"
)


def _failed(cell: nbformat.NotebookNode) -> str | None:
    """What a cell printed as a failure: an error, or text on stderr (a magic's one-line
    error, a traceback); a notebook must never ship or hide one."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return str(output.get("text", "")).strip()[:200]
    return None


def _unclean(cell: nbformat.NotebookNode) -> str | None:
    for output in cell.get("outputs", []):
        text = str(output)
        found = _UNCLEAN.search(text)
        if found:
            return found.group(0)
    return None


def execute(path: Path) -> None:
    from nbclient import NotebookClient

    # headless: nobody clicks, so approvals time out quickly
    os.environ.setdefault("A3S_CONFIRMATION_TIMEOUT", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            failed = _failed(cell)
            if failed:
                raise SystemExit(f"{path.name}: cell {i} failed: {failed}")
            cell.metadata.pop("execution", None)
            if _unclean(cell):
                if CHECK in cell.metadata.get("tags", []):
                    raise SystemExit(f"{path.name}: a checked cell's output is not clean")
                cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def check() -> int:
    """Exit status 1 when a committed notebook carries an unclean output (``make lint``)."""
    bad = 0
    for name in NOTEBOOKS:
        nb = nbformat.read(HERE / name, as_version=4)
        for i, cell in enumerate(nb.cells):
            found = (_unclean(cell) or _failed(cell)) if cell.cell_type == "code" else None
            if found:
                print(f"notebooks/{name}: cell {i} output holds {found!r}: regenerate with "
                      "python notebooks/make_notebooks.py")
                bad += 1
    return 1 if bad else 0


def main() -> None:
    if "--check" in sys.argv:
        raise SystemExit(check())
    run = "--no-run" not in sys.argv
    for name, cells in NOTEBOOKS.items():
        path = write(name, cells)
        if run:
            execute(path)
        print("wrote", path.relative_to(HERE.parent))


if __name__ == "__main__":
    main()
