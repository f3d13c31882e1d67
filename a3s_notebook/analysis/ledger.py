"""The cost ledger as columnar files derived from the session logs: fast repeated reads.

Reading a million LLM calls out of JSONL logs means parsing every byte of every log (the
usage lines are one line in eight of what the store writes), which takes tens of seconds
in Python. The ledger keeps, per session log, what :func:`load_sessions` reads out of it
for the calls frame, as a Parquet file, plus a small JSON stamp (the session's row of the
``sessions`` frame and the lines that could not be read). The logs stay the source of
truth: a ledger file is rebuilt whenever its log's size or modification time differs from
the ones in its name, and can be deleted at any time.

Layout: ``<folder>/.a3s/ledger/<session file stem>/<size>-<mtime_ns>.parquet`` and
``.json`` beside it. Each is written to a temporary file and renamed into place, the
Parquet first; a ledger entry counts only when its ``.json`` exists, so a reader never sees
half an entry. Two processes rebuilding the same entry at once write the same bytes under
the same name (the last rename wins, both are whole); older entries of that log are
removed after a new one is in place.

A line that cannot be read is skipped with the same
:class:`~a3s_notebook.engine.store.SessionFileWarning` as :func:`load_sessions` gives, on
every read (the stamp keeps the skipped lines).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a3s_notebook.analysis.costs import COLUMNS, RECORD_FIELDS, frame_from_columns
from a3s_notebook.engine.store import SessionFileWarning

__all__ = ["LEDGER_DIR", "load_calls"]

LEDGER_DIR = Path(".a3s") / "ledger"
"""Where the ledger lives, relative to the folder of session logs."""
_VERSION = 1
"""Bumped when what a ledger file holds changes: older entries are then rebuilt."""

# the calls frame's columns as DuckDB types (what a ledger Parquet file holds)
_SQL_TYPES = {
    "string": "VARCHAR",
    "Int64": "BIGINT",
    "datetime64[ns, UTC]": "TIMESTAMPTZ",
    "Float64": "DOUBLE",
    "object": "VARCHAR[]",
    "boolean": "BOOLEAN",
}


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ImportError("the cost ledger and query() need DuckDB: pip install duckdb") from exc
    return duckdb


def connect() -> Any:
    """A DuckDB connection in UTC (timestamps come back as UTC, whatever the machine's zone)."""
    con = _duckdb().connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass
class Entry:
    """One log's ledger entry, read from its stamp."""

    log: Path
    parquet: Path | None
    """None when the session has no calls."""
    session: dict[str, Any] | None
    """Its row of the sessions frame (None: no readable line)."""
    bad: list[tuple[int, str]]
    bad_calls: list[tuple[int, str]]


def _stamp_name(info: os.stat_result) -> str:
    return f"v{_VERSION}-{info.st_size}-{info.st_mtime_ns}"


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _build(log: Path, data: bytes, where: Path, stamp: str, con: Any) -> Entry:
    """Parse one log (the loader's own reader) and write its ledger entry."""
    from a3s_notebook.analysis.sessions import _calls_frame, _Collector, _read_file

    out = _Collector()
    bad = _read_file(log, data, out)
    calls, bad_calls = _calls_frame(out)
    session = out.sessions[0] if out.sessions else None
    where.mkdir(parents=True, exist_ok=True)
    parquet = where / f"{stamp}.parquet"
    if len(calls):
        frame = calls.drop(columns=["session_id"])  # the file's stem, added when read
        con.register("calls_frame", frame)
        try:
            select = ", ".join(
                f'"{name}"::{_SQL_TYPES[dtype]} AS "{name}"'
                for name, dtype in COLUMNS.items()
                if name != "session_id"
            )

            def write(tmp: Path) -> None:
                con.execute(
                    f"COPY (SELECT {select} FROM calls_frame) TO '{_sql_str(tmp)}' "
                    "(FORMAT parquet, COMPRESSION zstd)"
                )

            _atomic_write(parquet, write)
        finally:
            con.unregister("calls_frame")
    stamp_doc = {
        "version": _VERSION,
        "calls": len(calls),
        "session": _jsonable(session),
        "bad": bad,
        "bad_calls": [(line, why) for _name, line, why in bad_calls],
    }
    _atomic_write(
        where / f"{stamp}.json",
        lambda tmp: tmp.write_text(json.dumps(stamp_doc), encoding="utf-8"),
    )
    for old in where.iterdir():  # entries of earlier versions of the log
        if not old.name.startswith(stamp + ".") and not old.name.startswith("."):
            with contextlib.suppress(OSError):
                old.unlink()
    return Entry(log, parquet if len(calls) else None, session, bad, stamp_doc["bad_calls"])


def _jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _read_entry(log: Path, where: Path, stamp: str) -> Entry | None:
    try:
        doc = json.loads((where / f"{stamp}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not built yet, or damaged: rebuilt
    if not isinstance(doc, dict) or doc.get("version") != _VERSION:
        return None
    parquet = where / f"{stamp}.parquet"
    if doc.get("calls") and not parquet.is_file():
        return None
    bad = [(int(n), str(w)) for n, w in doc.get("bad") or ()]
    bad_calls = [(int(n), str(w)) for n, w in doc.get("bad_calls") or ()]
    return Entry(log, parquet if doc.get("calls") else None, doc.get("session"), bad, bad_calls)


def entries(
    folder: str | Path, *, con: Any | None = None, warn: bool = True
) -> tuple[list[Entry], dict[str, str]]:
    """Every readable log's ledger entry (rebuilt where stale), and the files skipped whole.

    Warns (``SessionFileWarning``) as :func:`load_sessions` does, when ``warn``.
    """
    from a3s_notebook.analysis.sessions import _describe, _file_problem

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"no session folder at {root}: pass the folder that holds the .jsonl files "
            "(by default .a3s/sessions next to your notebook)"
        )
    own = con is None
    con = con or connect()
    out: list[Entry] = []
    skipped_files: dict[str, str] = {}
    cache = root / LEDGER_DIR
    try:
        for log in sorted(root.glob("*.jsonl")):
            where = cache / log.stem
            try:
                info = log.stat()
            except OSError:
                info = None
            entry = None
            if info is not None and log.is_file() and info.st_size:
                entry = _read_entry(log, where, _stamp_name(info))
            if entry is None:
                data, why = _file_problem(log)
                if data is None:
                    skipped_files[log.name] = why or "unreadable"
                    if warn:
                        warnings.warn(f"{log}: skipped: {why}", SessionFileWarning, stacklevel=3)
                    continue
                # the stamp of the bytes read (the log may grow while we read: then the
                # next read rebuilds, since its size no longer matches)
                stamp = _stamp_name(info) if info is not None else "unstamped"
                try:
                    entry = _build(log, data, where, stamp, con)
                except OSError as exc:  # a read-only folder: read without a ledger
                    raise OSError(
                        f"cannot write the cost ledger under {cache} ({exc}): use "
                        "load_sessions(folder), which writes nothing"
                    ) from exc
            if warn and entry.bad:
                warnings.warn(
                    f"{log}: skipped {len(entry.bad)} line(s) that could not be read "
                    f"({_describe(entry.bad)}). Every other line was kept.",
                    SessionFileWarning,
                    stacklevel=3,
                )
            if warn:
                for line, problem in entry.bad_calls:
                    warnings.warn(
                        f"{log}: skipped line {line}: a malformed 'usage_recorded' record "
                        f"({problem}). Every other line was kept.",
                        SessionFileWarning,
                        stacklevel=3,
                    )
            if entry.session is not None:
                out.append(entry)
    finally:
        if own:
            con.close()
    return out, skipped_files


def calls_relation_sql(parquets: list[Path]) -> str:
    """A SELECT of the calls (the frame's columns, ``session_id`` from the file's name)."""
    files = ", ".join(f"'{_sql_str(p)}'" for p in parquets)
    cols = ", ".join(f'"{c}"' for c in COLUMNS if c != "session_id")
    return (
        f"SELECT regexp_extract(filename, '([^/\\\\]+)[/\\\\][^/\\\\]+$', 1) AS session_id, "
        f"{cols} FROM read_parquet([{files}], filename = true)"
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionFileWarning)
        yield


def load_calls(folder: str | Path = ".a3s/sessions") -> pd.DataFrame:
    """The calls frame of a folder of session logs: exactly ``load_sessions(folder).calls``
    (same columns, dtypes and rows), read from the ledger (see the module's docstring).

    The first read of a log builds its ledger entry (as slow as ``load_sessions``); later
    reads of an unchanged log read only the Parquet file. Lines that cannot be read are
    skipped with a :class:`~a3s_notebook.engine.store.SessionFileWarning`, as in
    ``load_sessions``.
    """
    con = connect()
    try:
        found, _skipped = entries(folder, con=con)
        parquets = [e.parquet for e in found if e.parquet is not None]
        if not parquets:
            return frame_from_columns({f: [] for f in RECORD_FIELDS})
        select = calls_relation_sql(parquets).replace(
            '"tool_names"', 'to_json("tool_names") AS "tool_names"', 1
        )
        raw = con.execute(_ordered(select)).df()
    finally:
        con.close()
    return _typed(raw)


def _ordered(select: str) -> str:
    # the rows in log order, files sorted by name (as load_sessions gives them)
    return (
        select.replace("filename = true)", "filename = true, file_row_number = true)")
        + " ORDER BY filename, file_row_number"
    )


def _typed(raw: pd.DataFrame) -> pd.DataFrame:
    """DuckDB's frame with the calls frame's dtypes (see ``COLUMNS``)."""
    import orjson

    data: dict[str, Any] = {}
    for name, dtype in COLUMNS.items():
        col = raw[name]
        if dtype == "string":
            data[name] = col.astype("string").array
        elif dtype == "Int64":
            data[name] = col.astype("Int64").array
        elif dtype == "Float64":
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            data[name] = pd.array(values, dtype="Float64")
        elif dtype == "boolean":
            data[name] = col.astype("boolean").array
        elif name == "timestamp":
            data[name] = pd.to_datetime(col, utc=True).dt.as_unit("ns").array
        else:  # tool_names: few distinct lists, each row its own list object
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            lists = [orjson.loads(u) for u in uniques]
            data[name] = pd.Series(
                [[] if c < 0 else list(lists[c]) for c in codes.tolist()], dtype=object
            ).array
    return pd.DataFrame(data, columns=list(COLUMNS))
