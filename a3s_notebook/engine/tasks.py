"""Tasks (the agent's todo list), plans and goals (spec section 8)."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from a3s_notebook._deferred import DEFER_BUILD

__all__ = ["AgentGoal", "Complexity", "ExecutionPlan", "Task", "TaskPriority", "TaskStatus"]


class TaskStatus(StrEnum):
    """Status of a task. Parsing is lenient: ``done`` means completed, unknown means pending."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @classmethod
    def parse(cls, value: object) -> TaskStatus:
        """Lenient, case-insensitive parse (``inprogress``, ``done``, ``canceled`` accepted)."""
        if isinstance(value, TaskStatus):
            return value
        text = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        aliases = {
            "inprogress": cls.IN_PROGRESS,
            "in_progress": cls.IN_PROGRESS,
            "running": cls.IN_PROGRESS,
            "done": cls.COMPLETED,
            "complete": cls.COMPLETED,
            "canceled": cls.CANCELLED,
        }
        if text in aliases:
            return aliases[text]
        try:
            return cls(text)
        except ValueError:
            return cls.PENDING

    def is_active(self) -> bool:
        """Pending or in progress."""
        return self in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)


class TaskPriority(StrEnum):
    """Priority of a task; unknown values parse as medium."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @classmethod
    def parse(cls, value: object) -> TaskPriority:
        """Lenient parse: ``h``/``1``, ``med``/``m``/``2``, ``l``/``3`` are accepted."""
        if isinstance(value, TaskPriority):
            return value
        text = str(value).strip().lower()
        if text in ("high", "h", "1"):
            return cls.HIGH
        if text in ("low", "l", "3"):
            return cls.LOW
        return cls.MEDIUM


class Task(BaseModel):
    """One item of the agent's task list."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=DEFER_BUILD)

    id: str
    content: str = Field(validation_alias=AliasChoices("content", "description"))
    status: TaskStatus = TaskStatus.PENDING
    priority: TaskPriority = TaskPriority.MEDIUM
    tool: str | None = None
    dependencies: list[str] = Field(default_factory=list)
    success_criteria: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> TaskStatus:
        return TaskStatus.parse(v)

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, v: Any) -> TaskPriority:
        return TaskPriority.parse(v)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return str(v)


class Complexity(StrEnum):
    """How hard a plan is judged to be."""

    SIMPLE = "Simple"
    MEDIUM = "Medium"
    COMPLEX = "Complex"
    VERY_COMPLEX = "VeryComplex"


class ExecutionPlan(BaseModel):
    """A goal broken into steps."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    goal: str
    steps: list[Task] = Field(default_factory=list)
    complexity: Complexity = Complexity.MEDIUM
    required_tools: list[str] = Field(default_factory=list)
    estimated_steps: int = 0


class AgentGoal(BaseModel):
    """A goal with success criteria and progress (0..1)."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    description: str
    success_criteria: list[str] = Field(default_factory=list)
    progress: float = 0.0
    achieved: bool = False
    created_at: int = Field(default_factory=lambda: int(time.time()))
    achieved_at: int | None = None
