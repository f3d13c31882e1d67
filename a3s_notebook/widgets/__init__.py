"""Jupyter widgets that follow an agent session: what a person looks at while it works.

Each is constructed as ``Widget(session)`` and also has ``.attach(session)`` and
``.detach()``:

* :class:`EventStream`: the run as it happens (streamed Markdown, tool calls, denials,
  errors, compactions, confirmation outcomes).
* :class:`ContextBar`: how full the context window is.
* :class:`TaskTable`: the agent's tasks.
* :class:`ApprovalCards`: one card per pending confirmation, decided by a click.
* :class:`UsagePanel`: tokens, cost, latency and budget.
* :class:`MemoryTable`: the agent's memories (shown when the session's memory is on).
* :class:`SessionView`: a header and all of the above.

The front end is built from ``js/`` into ``a3s_notebook/static/``; importing this module
without it raises an ImportError that says how to build it.
"""

from a3s_notebook.widgets._approvals import ApprovalCards
from a3s_notebook.widgets._context_bar import ContextBar
from a3s_notebook.widgets._event_stream import EventStream
from a3s_notebook.widgets._memory_table import MemoryTable
from a3s_notebook.widgets._session_view import SessionView
from a3s_notebook.widgets._task_table import TaskTable
from a3s_notebook.widgets._usage_panel import UsagePanel

__all__ = [
    "ApprovalCards",
    "ContextBar",
    "EventStream",
    "MemoryTable",
    "SessionView",
    "TaskTable",
    "UsagePanel",
]
