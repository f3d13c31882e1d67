"""Python functions as tools: :class:`FunctionTool` and the :func:`tool` decorator.

The schema the model sees comes from the function's signature, type hints and docstring
through pydantic; the arguments are validated (and converted: an ``Enum``, a nested pydantic
model) before the call, and a validation error goes back to the model as a tool error. A sync
function runs in a worker thread, so it never blocks the event loop; an async one is awaited.

A tool declares its lane (``"query"`` for read-only tools, which run in parallel, or
``"execute"``) and whether it needs approval; :func:`lane_of` and :func:`needs_approval_of`
read them from a registry, falling back to the built-in rules for tools that declare nothing.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import sys
import typing
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

from a3s_notebook.engine.lanes import SessionLane
from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._media import media_from_value
from a3s_notebook.engine.tools._registry import ToolRegistry

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_MAX_ROWS",
    "FunctionTool",
    "lane_of",
    "needs_approval_of",
    "render_value",
    "tool",
]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_MAX_OUTPUT_CHARS = 20_000
"""Characters of a rendered return value (JSON, ``repr``, a table) handed to the model."""

DEFAULT_MAX_ROWS = 20
"""Rows of a pandas DataFrame or Series shown to the model; the whole object stays in metadata."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NO_OUTPUT = "(no output)"


# --- docstrings ----------------------------------------------------------------------------

_GOOGLE_SECTIONS = ("args", "arguments", "parameters", "params", "keyword args", "kwargs")
_GOOGLE_END = re.compile(
    r"^(returns?|yields?|raises?|examples?|notes?|see also|attributes|references|todo|"
    r"warnings?|other parameters)\s*:?\s*$",
    re.IGNORECASE,
)
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$")
_GOOGLE_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?::.*)?$")


def _summary(doc: str) -> str:
    """The first paragraph of a cleaned docstring, joined into one line."""
    lines: list[str] = []
    for line in doc.splitlines():
        if not line.strip():
            if lines:
                break
            continue
        stripped = line.strip()
        if _GOOGLE_END.match(stripped) or stripped.lower().rstrip(":") in _GOOGLE_SECTIONS:
            break
        if stripped.startswith((":param", ":return")):
            break
        lines.append(stripped)
    return " ".join(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_param_docs(doc: str) -> dict[str, str]:
    """Per-argument descriptions from Google (``Args:``), NumPy (``Parameters`` + dashes) and
    Sphinx (``:param x:``) docstring sections; arguments without one are absent."""
    lines = doc.splitlines()
    out: dict[str, str] = {}

    # Sphinx: ":param name: text" with indented continuation lines
    current: str | None = None
    for line in lines:
        m = _SPHINX_PARAM.match(line.strip())
        if m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current and line.strip() and not line.strip().startswith(":") and _indent(line) > 0:
            out[current] = f"{out[current]} {line.strip()}".strip()
        else:
            current = None

    i = 0
    while i < len(lines):
        header = lines[i].strip()
        lowered = header.lower()
        # NumPy: "Parameters" underlined with dashes; items at the section's indent
        if (
            lowered in ("parameters", "other parameters", "arguments")
            and i + 1 < len(lines)
            and set(lines[i + 1].strip()) == {"-"}
        ):
            base = _indent(lines[i])
            i += 2
            name: str | None = None
            while i < len(lines):
                line = lines[i]
                if not line.strip():
                    i += 1
                    continue
                if _indent(line) <= base:
                    if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
                        break  # the next section
                    m = _NUMPY_ITEM.match(line.strip())
                    if not m:
                        break
                    name = m.group(1)
                    out.setdefault(name, "")
                elif name is not None:
                    out[name] = f"{out[name]} {line.strip()}".strip()
                i += 1
            continue
        # Google: "Args:" then indented "name (type): text" items
        if lowered.endswith(":") and lowered[:-1].strip() in _GOOGLE_SECTIONS:
            base = _indent(lines[i])
            i += 1
            item_indent: int | None = None
            name = None
            while i < len(lines):
                line = lines[i]
                if not line.strip():
                    i += 1
                    continue
                ind = _indent(line)
                if ind <= base or _GOOGLE_END.match(line.strip()):
                    break
                if item_indent is None:
                    item_indent = ind
                m = _GOOGLE_ITEM.match(line.strip())
                if ind == item_indent and m:
                    name = m.group(1)
                    out[name] = m.group(2).strip()
                elif name is not None:
                    out[name] = f"{out[name]} {line.strip()}".strip()
                i += 1
            continue
        i += 1
    return {k: v for k, v in out.items() if v}


# --- schema ----------------------------------------------------------------------------------

_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not")
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")


def _drop_titles(schema: Any) -> Any:
    """Remove pydantic's generated ``title`` keys (noise for the model), keeping property names."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _drop_titles(v) for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_drop_titles(v) for v in value]
        elif key in _SCHEMA_ONE:
            out[key] = _drop_titles(value)
        else:
            out[key] = value
    return out


class _Param:
    """How one schema field maps back to the function's parameter."""

    def __init__(self, name: str, field: str, positional: bool) -> None:
        self.name = name
        self.field = field
        self.positional = positional


def _build_model(
    fn: Callable[..., Any], tool_name: str, param_docs: dict[str, str]
) -> tuple[type[BaseModel], list[_Param], str | None]:
    """A pydantic model of the arguments, the field -> parameter mapping, and the name of the
    parameter that receives the :class:`ToolContext` (if any)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tool {tool_name!r}: cannot read the signature of {fn!r}: {exc}") from exc
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(
            f"tool {tool_name!r}: cannot resolve the type hints of {fn!r} ({exc}); define the "
            "types it names at module level"
        ) from exc
    fields: dict[str, Any] = {}
    params: list[_Param] = []
    ctx_param: str | None = None
    for index, param in enumerate(sig.parameters.values()):
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(
                f"tool {tool_name!r}: *{param.name} is not supported: a tool's arguments are "
                "named (a JSON object); take a list instead, e.g. "
                f"`{param.name}: list[str]`"
            )
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise TypeError(
                f"tool {tool_name!r}: **{param.name} is not supported: declare each argument "
                f"by name, or take a dict, e.g. `{param.name}: dict[str, Any]`"
            )
        annotation = hints.get(param.name, Any)
        if annotation is ToolContext:
            ctx_param = param.name
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        # internal field names avoid clashes with BaseModel attributes (json, copy, schema,
        # model_*) and leading underscores; the alias is what the model sees
        field = f"p{index}"
        fields[field] = (
            annotation,
            Field(default=default, alias=param.name, description=param_docs.get(param.name)),
        )
        params.append(_Param(param.name, field, param.kind is inspect.Parameter.POSITIONAL_ONLY))
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    try:
        model = pydantic.create_model(f"{tool_name}_arguments", __config__=config, **fields)
    except Exception as exc:
        raise TypeError(f"tool {tool_name!r}: cannot build an argument schema: {exc}") from exc
    return typing.cast(type[BaseModel], model), params, ctx_param


def _format_validation_error(tool_name: str, exc: pydantic.ValidationError, known: str) -> str:
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err.get("loc", ())]
        kind = err.get("type", "")
        if kind == "missing" and len(loc) == 1:
            problems.append(f"argument '{loc[0]}' is required but was not given")
            continue
        if kind == "extra_forbidden" and len(loc) == 1:
            problems.append(
                f"'{loc[0]}' is not an argument of this tool (it takes: {known or 'nothing'})"
            )
            continue
        where = f"argument '{loc[0]}'" if loc else "arguments"
        if len(loc) > 1:
            where += f" (at {'.'.join(loc[1:])})"
        problem = str(err.get("msg", "is invalid"))
        if kind != "missing" and "input" in err:
            shown = repr(err["input"])
            problem += f" (got {shown[:77] + '...' if len(shown) > 80 else shown})"
        problems.append(f"{where}: {problem}")
    return f"Invalid arguments for tool '{tool_name}': " + "; ".join(problems)


# --- rendering -------------------------------------------------------------------------------


def _bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters)"


def render_value(
    value: object,
    *,
    max_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> tuple[str, dict[str, Any]]:
    """The text the model sees for a return value, and the result's metadata.

    ``str`` as is; ``None`` as ``(no output)``; pandas objects as a table of the first
    ``max_rows`` rows with the shape (the whole object kept in ``metadata["value"]``);
    pydantic models and other JSON-able values as JSON; anything else as a bounded ``repr``.
    """
    if value is None:
        return NO_OUTPUT, {}
    if isinstance(value, str):
        return value, {}
    pd = sys.modules.get("pandas")  # a value cannot be a DataFrame unless pandas is loaded
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series)):
        return _render_pandas(value, max_chars=max_chars, max_rows=max_rows), {
            "value": value,
            "value_type": type(value).__name__,
        }
    try:
        text = pydantic_core.to_json(value, indent=2).decode()
    except Exception:
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<{type(value).__name__} object: repr failed: {exc}>"
        meta: dict[str, Any] = {"value_type": type(value).__name__}
        image = media_from_value(value)  # a figure or an image: the row shows it
        if image is not None:
            meta["media"] = [image]
            meta["value"] = value
        return _bound(text, max_chars), meta
    return _bound(text, max_chars), {}


def _render_pandas(value: Any, *, max_chars: int, max_rows: int) -> str:
    rows = len(value)
    head = value.head(max_rows)
    if value.ndim == 2:
        table = head.to_string(max_cols=30, max_colwidth=60)
        shape = f"[DataFrame: {rows} rows x {value.shape[1]} columns]"
    else:
        table = head.to_string(max_rows=max_rows)
        label = f" '{value.name}'" if value.name is not None else ""
        shape = f"[Series{label}: {rows} rows, dtype {value.dtype}]"
    more = f"\n… {rows - max_rows} more rows" if rows > max_rows else ""
    return _bound(f"{shape}\n{table}{more}", max_chars)


# --- the tool --------------------------------------------------------------------------------


class FunctionTool(Generic[P, R]):
    """A tool made from a Python function (sync or async); still callable like the function.

    ``lane`` is :attr:`SessionLane.QUERY` for a read-only tool (runs in parallel with other
    queries) or :attr:`SessionLane.EXECUTE` (the default). ``needs_approval``: None lets the
    session's rules decide, True always asks, False allows without asking unless a deny rule
    matches (read by the agent through :func:`needs_approval_of`). ``timeout`` (seconds)
    cancels the call past it with a tool error; a sync function's worker thread cannot be
    stopped, only abandoned, so its result is then discarded.

    A parameter annotated :class:`ToolContext` receives the call's context and is not shown
    to the model.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    lane: SessionLane
    needs_approval: bool | None
    timeout: float | None

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        lane: str | SessionLane = "execute",
        needs_approval: bool | None = None,
        timeout: float | None = None,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"a tool needs a function, got {type(fn).__name__}")
        tool_name = name if name is not None else getattr(fn, "__name__", "")
        if not _NAME_RE.match(tool_name):
            raise ValueError(
                f"tool name {tool_name!r} is not valid: use 1-64 letters, digits, '_' or '-' "
                "(pass name=... for a lambda or a callable object)"
            )
        parsed = SessionLane.parse(lane)
        if parsed not in (SessionLane.QUERY, SessionLane.EXECUTE):
            raise ValueError(f"tool {tool_name!r}: lane must be 'query' or 'execute', got {lane!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"tool {tool_name!r}: timeout must be a positive number of seconds")
        if needs_approval not in (None, True, False):
            raise TypeError(f"tool {tool_name!r}: needs_approval must be None, True or False")
        self.fn = fn
        self.name = tool_name
        self.lane = parsed
        self.needs_approval = needs_approval
        self.timeout = timeout
        self.max_output_chars = max_output_chars
        self.max_rows = max_rows
        doc = inspect.cleandoc(inspect.getdoc(fn) or "")
        self.description = (
            description
            if description is not None
            else (_summary(doc) or f"Call the Python function {tool_name}.")
        )
        self._model, self._params, self._ctx_param = _build_model(
            fn, tool_name, parse_param_docs(doc)
        )
        schema = _drop_titles(self._model.model_json_schema(by_alias=True))
        schema.setdefault("properties", {})
        schema.pop("additionalProperties", None)
        self.parameters = schema
        call = fn if inspect.isroutine(fn) else type(fn).__call__
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function directly, as if it were not a tool."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r}, lane={self.lane.value.lower()!r})"

    def validate(self, args: dict[str, Any]) -> tuple[list[Any], dict[str, Any]] | str:
        """The positional and keyword arguments of the call, or the problem as a message."""
        try:
            model = self._model.model_validate(args)
        except pydantic.ValidationError as exc:
            known = ", ".join(p.name for p in self._params)
            return _format_validation_error(self.name, exc, known)
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for p in self._params:
            value = getattr(model, p.field)
            if p.positional:
                positional.append(value)
            else:
                keywords[p.name] = value
        return positional, keywords

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Validate, call (in a worker thread when sync), bound by the timeout, render."""
        checked = self.validate(args)
        if isinstance(checked, str):
            return ToolResult.error(self.name, checked)
        positional, keywords = checked
        if self._ctx_param is not None:
            keywords[self._ctx_param] = ctx
        scope = asyncio.timeout(self.timeout)
        try:
            async with scope:
                value = await self._invoke(positional, keywords)
        except TimeoutError as exc:
            if scope.expired():
                return ToolResult.error(
                    self.name,
                    f"Tool '{self.name}' timed out after {self.timeout:g} s and was cancelled.",
                )
            return self._failure(exc)
        except Exception as exc:
            return self._failure(exc)
        text, metadata = render_value(
            value, max_chars=self.max_output_chars, max_rows=self.max_rows
        )
        return ToolResult(name=self.name, output=text, metadata=metadata)

    async def _invoke(self, positional: list[Any], keywords: dict[str, Any]) -> Any:
        fn: Callable[..., Any] = self.fn
        if self._is_async:
            result = fn(*positional, **keywords)
        else:
            result = await asyncio.to_thread(functools.partial(fn, *positional, **keywords))
        if inspect.isawaitable(result):
            result = await result
        return result

    def _failure(self, exc: BaseException) -> ToolResult:
        detail = str(exc)
        message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        return ToolResult.error(self.name, f"Tool '{self.name}' raised {_bound(message, 4000)}")


@overload
def tool(fn: Callable[P, R], /) -> FunctionTool[P, R]: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    lane: str | SessionLane = "execute",
    needs_approval: bool | None = None,
    timeout: float | None = None,
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    lane: str | SessionLane = "execute",
    needs_approval: bool | None = None,
    timeout: float | None = None,
) -> FunctionTool[P, R] | Callable[[Callable[P, R]], FunctionTool[P, R]]:
    """Make a function a tool: ``@tool`` or ``@tool(lane="query", timeout=30)``.

    The result is a :class:`FunctionTool` that still calls like the function; register it in
    any number of sessions' registries: ``registry.register(my_tool)``.
    """

    def wrap(f: Callable[P, R]) -> FunctionTool[P, R]:
        return FunctionTool(
            f,
            name=name,
            description=description,
            lane=lane,
            needs_approval=needs_approval,
            timeout=timeout,
        )

    return wrap(fn) if fn is not None else wrap


# --- what the agent reads --------------------------------------------------------------------


def lane_of(tools: ToolRegistry, name: str) -> SessionLane:
    """The lane of the call ``name``: the tool's own ``lane`` attribute when it declares one
    (a :class:`FunctionTool`), else :meth:`SessionLane.from_tool_name` (the built-in rule)."""
    found = tools.get(name)
    declared = getattr(found, "lane", None) if found is not None else None
    if declared is not None:
        try:
            return SessionLane.parse(declared)
        except ValueError:
            pass
    return SessionLane.from_tool_name(name)


def needs_approval_of(tools: ToolRegistry, name: str) -> bool | None:
    """The tool's declared ``needs_approval`` (True: always ask; False: allowed without asking
    unless a deny rule matches), or None when it declares nothing (the session's rules decide)."""
    found = tools.get(name)
    value = getattr(found, "needs_approval", None) if found is not None else None
    return value if isinstance(value, bool) else None
