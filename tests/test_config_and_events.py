"""Pinned defaults, friendly config errors, safe ids, and the event union."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from a3s_notebook.engine import (
    ConfigError,
    ContextUsage,
    InvalidSessionIdError,
    SessionConfig,
    SessionQueueConfig,
    SessionState,
    StorageBackend,
    validate_session_id,
)
from a3s_notebook.engine.events import EVENT_TYPES, event_to_dict, parse_event
from a3s_notebook.engine.tasks import Task, TaskPriority, TaskStatus

SPEC_WIRE_NAMES = {
    "agent_start",
    "turn_start",
    "text_delta",
    "tool_start",
    "tool_end",
    "tool_output_delta",
    "turn_end",
    "agent_end",
    "error",
    "confirmation_required",
    "confirmation_received",
    "confirmation_timeout",
    "external_task_pending",
    "external_task_completed",
    "permission_denied",
    "context_resolving",
    "context_resolved",
    "command_dead_lettered",
    "command_retry",
    "queue_alert",
    "task_updated",
    "memory_stored",
    "memory_recalled",
    "memories_searched",
    "memory_cleared",
    "subagent_start",
    "subagent_progress",
    "subagent_end",
    "planning_start",
    "planning_end",
    "step_start",
    "step_end",
    "goal_extracted",
    "goal_progress",
    "goal_achieved",
    "context_compacted",
    "persistence_failed",
}


def test_session_config_defaults_match_the_spec() -> None:
    c = SessionConfig()
    assert c.name == "" and c.workspace == "" and c.system_prompt is None
    assert c.max_context_length == 0
    assert c.auto_compact is False and c.auto_compact_threshold == 0.80
    assert c.storage_type is StorageBackend.FILE
    assert c.queue_config is None and c.confirmation_policy is None
    assert c.permission_policy is None and c.parent_id is None and c.security_config is None
    assert c.planning_enabled is False and c.goal_tracking is False
    assert c.cost_limit_usd is None and c.token_limit is None
    # None fields are left out of the serialized form
    assert "system_prompt" not in c.to_dict()


def test_context_usage_and_state_defaults() -> None:
    cu = ContextUsage()
    assert (cu.used_tokens, cu.max_tokens, cu.percent, cu.turns) == (0, 200_000, 0.0, 0)
    cu.update(50_000)
    assert cu.percent == 0.25  # a fraction, not 0..100
    assert [s.value for s in SessionState] == ["Unknown", "Active", "Paused", "Completed", "Error"]


def test_queue_defaults_are_one_set_whatever_the_path() -> None:
    a = SessionQueueConfig()
    b = SessionQueueConfig.model_validate({})
    for q in (a, b):
        assert (
            q.control_max_concurrency,
            q.query_max_concurrency,
            q.execute_max_concurrency,
            q.generate_max_concurrency,
        ) == (2, 4, 2, 1)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (
            {"auto_compact_threshold": 1.5},
            "SessionConfig.auto_compact_threshold: must be a fraction",
        ),
        ({"auto_compact_threshold": 0}, "SessionConfig.auto_compact_threshold"),
        ({"max_context_length": -1}, "SessionConfig.max_context_length: must be 0"),
        ({"max_tool_rounds": 0}, "SessionConfig.max_tool_rounds: must be at least 1"),
        ({"cost_limit_usd": -2}, "SessionConfig.cost_limit_usd"),
        ({"max_context": 1000}, "did you mean 'max_context_length'?"),
        ({"auto_compact": "sometimes"}, "SessionConfig.auto_compact"),
        ({"parent_id": "../evil"}, "Session ID contains unsafe characters"),
        ({"storage_type": "s3"}, "SessionConfig.storage_type"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        SessionConfig(**kwargs)  # type: ignore[arg-type]
    assert needle in str(exc.value)
    assert "pydantic" not in str(exc.value).lower()


def test_bad_config_on_assignment_is_refused() -> None:
    c = SessionConfig()
    with pytest.raises(ValueError, match="auto_compact_threshold"):
        c.auto_compact_threshold = 7


@pytest.mark.parametrize("sid", ["abc", "a-b_c.d", "Session2", "x.y"])
def test_safe_session_ids(sid: str) -> None:
    assert validate_session_id(sid) == sid


@pytest.mark.parametrize("sid", ["../etc", "a/b", ".hidden", "a..b", "a b", "naïve", "a\\b", ".."])
def test_unsafe_session_ids(sid: str) -> None:
    with pytest.raises(InvalidSessionIdError, match="Session ID contains unsafe characters"):
        validate_session_id(sid)


def test_empty_session_id() -> None:
    with pytest.raises(InvalidSessionIdError, match="^Session ID must not be empty$"):
        validate_session_id("")


def test_the_union_has_every_spec_wire_name() -> None:
    assert SPEC_WIRE_NAMES <= EVENT_TYPES


SAMPLES: list[dict[str, object]] = [
    {"type": "agent_start", "prompt": "p"},
    {"type": "turn_start", "turn": 1},
    {"type": "text_delta", "text": "t"},
    {"type": "tool_start", "id": "1", "name": "read"},
    {"type": "tool_end", "id": "1", "name": "read", "output": "o", "exit_code": 0},
    {"type": "tool_output_delta", "id": "1", "name": "bash", "delta": "d"},
    {
        "type": "turn_end",
        "turn": 1,
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    },
    {"type": "agent_end", "text": "t", "usage": {"prompt_tokens": 1}},
    {"type": "error", "message": "m"},
    {
        "type": "confirmation_required",
        "tool_id": "1",
        "tool_name": "w",
        "args": {"a": 1},
        "timeout_ms": 5,
    },
    {"type": "confirmation_received", "tool_id": "1", "approved": False, "reason": "r"},
    {"type": "confirmation_timeout", "tool_id": "1", "action_taken": "rejected"},
    {"type": "permission_denied", "tool_id": "1", "tool_name": "b", "args": {}, "reason": "r"},
    {"type": "task_updated", "session_id": "s", "tasks": [{"id": "1", "content": "c"}]},
    {
        "type": "context_compacted",
        "session_id": "s",
        "before_messages": 40,
        "after_messages": 23,
        "percent_before": 0.9,
    },
    {"type": "persistence_failed", "session_id": "s", "operation": "create", "error": "e"},
    {"type": "memory_cleared", "tier": "working", "count": 2},
    {"type": "step_end", "step_id": "s1", "status": "done", "step_number": 1, "total_steps": 2},
    {"type": "queue_alert", "level": "warning", "alert_type": "depth", "message": "m"},
]


@pytest.mark.parametrize("data", SAMPLES, ids=[str(s["type"]) for s in SAMPLES])
def test_events_round_trip_through_json(data: dict[str, object]) -> None:
    ev = parse_event(json.dumps(data))
    assert ev is not None and ev.type == data["type"]
    again = parse_event(json.dumps(event_to_dict(ev)))
    assert again == ev


def test_unknown_event_types_are_skipped() -> None:
    assert parse_event({"type": "from_the_future", "x": 1}) is None
    assert parse_event({"no": "type"}) is None


def test_task_parsing_is_lenient() -> None:
    t = Task.model_validate({"id": 3, "description": "d", "status": "Done", "priority": "h"})
    assert (t.id, t.content, t.status, t.priority) == (
        "3",
        "d",
        TaskStatus.COMPLETED,
        TaskPriority.HIGH,
    )
    assert TaskStatus.parse("InProgress") is TaskStatus.IN_PROGRESS
    assert TaskStatus.parse("canceled") is TaskStatus.CANCELLED
    assert TaskStatus.parse("whatever") is TaskStatus.PENDING
    assert (
        TaskPriority.parse("2") is TaskPriority.MEDIUM
        and TaskPriority.parse("l") is TaskPriority.LOW
    )


def test_engine_imports_neither_ipython_nor_widgets() -> None:
    code = (
        "import sys, a3s_notebook.engine, a3s_notebook.llm.factory;"
        "bad=[m for m in ('IPython','ipywidgets','anywidget','ipykernel') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
