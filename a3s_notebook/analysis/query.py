"""SQL over a folder of session logs (DuckDB), for ledgers that outgrow pandas.

``query("SELECT model, sum(cost_usd) FROM calls GROUP BY model", folder=...)`` returns a
pandas DataFrame. The tables are the frames of :func:`load_sessions`, with the same
columns (see :data:`TABLES`):

- ``calls``: one row per LLM call (the cost ledger). Read from the ledger's Parquet files
  (:mod:`a3s_notebook.analysis.ledger`), rebuilt from a log only when the log changed, so
  a query over a million calls takes about a second once the ledger exists.
- ``sessions``: one row per session file (from the ledger's stamps).
- ``messages``, ``tool_calls``, ``confirmations``: parsed from the logs when the query
  names them (every byte of every log: slower at scale). ``args`` is JSON text (DuckDB's
  JSON type: ``args->>'path'``).

Timestamps are ``TIMESTAMP WITH TIME ZONE`` in UTC (to the microsecond); an unknown cost
is NULL (``sum`` skips it). A line that cannot be read is skipped with a
:class:`~a3s_notebook.engine.store.SessionFileWarning`, as in ``load_sessions``. Nothing
but the ledger (under ``<folder>/.a3s/ledger``) is written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from a3s_notebook.analysis.costs import COLUMNS
from a3s_notebook.analysis.ledger import (
    _SQL_TYPES,
    Ledger,
    _duckdb,
    _quiet,
    calls_relation_sql,
    read_ledger,
)
from a3s_notebook.analysis.sessions import (
    _CONFIRMATION_COLUMNS,
    _MESSAGE_COLUMNS,
    _SESSION_COLUMNS,
    _TOOL_COLUMNS,
    _frame,
    load_sessions,
)

__all__ = ["TABLES", "QueryError", "query"]


def _sql_types(columns: dict[str, str]) -> dict[str, str]:
    types = {**_SQL_TYPES, "ts": "TIMESTAMPTZ", "object": "JSON"}
    return {name: types[dtype] for name, dtype in columns.items()}


TABLES: dict[str, dict[str, str]] = {
    "sessions": _sql_types(_SESSION_COLUMNS),
    "calls": {**_sql_types(COLUMNS), "tool_names": "VARCHAR[]"},
    "messages": _sql_types(_MESSAGE_COLUMNS),
    "tool_calls": _sql_types(_TOOL_COLUMNS),
    "confirmations": _sql_types(_CONFIRMATION_COLUMNS),
}
"""Each table's columns and their SQL types."""


class QueryError(ValueError):
    """A query DuckDB could not run (bad SQL, an unknown table or column)."""


def _describe_tables() -> str:
    return "; ".join(f"{name}({', '.join(cols)})" for name, cols in TABLES.items())


def _empty_select(columns: dict[str, str]) -> str:
    cols = ", ".join(f'NULL::{t} AS "{n}"' for n, t in columns.items())
    return f"SELECT {cols} WHERE false"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8(value: Any) -> Any:
    """A string DuckDB can take: a lone surrogate (undecodable tool output, which the store
    keeps escaped) becomes U+FFFD."""
    if not isinstance(value, str):
        return None if value is pd.NA else value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def _register(con: Any, name: str, frame: pd.DataFrame) -> None:
    """A frame as a table, object columns (dicts, lists) as JSON text."""
    import orjson

    frame = frame.copy()
    for col, sql_type in TABLES[name].items():
        if sql_type == "JSON":
            frame[col] = [
                None if v is None else orjson.dumps(v, default=str).decode() for v in frame[col]
            ]
        elif sql_type == "VARCHAR":
            frame[col] = pd.array([_utf8(v) for v in frame[col]], dtype="string")
    con.register(f"_{name}_frame", frame)
    cols = ", ".join(f'"{c}"::{t} AS "{c}"' for c, t in TABLES[name].items())
    con.execute(f'CREATE VIEW "{name}" AS SELECT {cols} FROM "_{name}_frame"')


def query(sql: str, folder: str | Path = ".a3s/sessions") -> pd.DataFrame:
    """Run one SQL statement over the session logs in ``folder``; a pandas DataFrame back.

    Tables: ``sessions``, ``calls``, ``messages``, ``tool_calls``, ``confirmations`` (their
    columns are in :data:`TABLES`; see the module's docstring). Raises :class:`QueryError`
    naming the tables when DuckDB cannot run the statement.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise QueryError(f"query() needs an SQL statement; tables: {_describe_tables()}")

    def run(con: Any, ledger: Ledger) -> pd.DataFrame:
        calls = calls_relation_sql(ledger) or _empty_select(TABLES["calls"])
        con.execute(f"CREATE VIEW calls AS {calls}")
        rows = [row for row in (e.session for e in ledger.entries) if row]
        sessions = _frame(
            [tuple(row[c] for c in _SESSION_COLUMNS) for row in rows], _SESSION_COLUMNS
        )
        _register(con, "sessions", sessions)
        wanted = {
            name
            for name in ("messages", "tool_calls", "confirmations")
            if re.search(rf"\b{name}\b", sql, re.IGNORECASE)
        }
        if wanted:
            with _quiet():  # the ledger's read warns about these files
                frames = load_sessions(folder)
            for name in wanted:
                _register(con, name, getattr(frames, name))
        for name in {"messages", "tool_calls", "confirmations"} - wanted:
            con.execute(f'CREATE VIEW "{name}" AS {_empty_select(TABLES[name])}')
        try:
            relation = con.sql(sql)
            if relation is None:  # a statement without rows (SET, CREATE VIEW, ...)
                return pd.DataFrame()
            # sum() of integers is a 128-bit integer, which pandas gets as float: back to
            # int64 (exact below 9.2e18 tokens)
            huge = {
                n
                for n, t in zip(relation.columns, relation.types, strict=True)
                if str(t) == "HUGEINT"
            }
            if huge:
                relation = relation.project(
                    ", ".join(
                        f'CAST("{n}" AS BIGINT) AS "{n}"' if n in huge else f'"{n}"'
                        for n in (c.replace('"', '""') for c in relation.columns)
                    )
                )
            result: pd.DataFrame = relation.df()
        except duckdb.IOException:
            raise  # a ledger file replaced meanwhile: read_ledger starts again
        except duckdb.Error as exc:
            raise _query_error(exc) from None
        return result

    duckdb = _duckdb()
    try:
        return read_ledger(folder, run)
    except duckdb.IOException as exc:
        raise _query_error(exc) from None


def _query_error(exc: Exception) -> QueryError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return QueryError(f"the query failed: {first}. Tables: {_describe_tables()}")
