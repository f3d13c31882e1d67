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
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from a3s_notebook.analysis.costs import COLUMNS, RECORD_FIELDS, _gc_paused, frame_from_columns
from a3s_notebook.engine.store import SessionFileWarning

__all__ = ["LEDGER_DIR", "load_calls", "read_ledger"]

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
    con.execute("SET preserve_insertion_order = true")  # load_calls relies on scan order
    return con


@dataclass
class Entry:
    """One log's ledger entry."""

    stem: str
    doc: dict[str, Any]
    """Its stamp: ``stamp``, ``calls``, ``session`` (its row of the sessions frame),
    ``bad`` and ``bad_calls`` (the lines skipped, with why)."""
    parquet: Path | None = None
    """Its own Parquet file (None when it is in the segment, or has no calls)."""
    in_segment: bool = False

    @property
    def session(self) -> dict[str, Any] | None:
        """Its row of the sessions frame (None: no readable line)."""
        row: dict[str, Any] | None = self.doc.get("session")
        return row


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


def _copy_to(con: Any, select: str, path: Path) -> None:
    """``select``'s rows as a Parquet file at ``path``, written atomically."""
    _atomic_write(
        path,
        lambda tmp: con.execute(
            f"COPY ({select}) TO '{_sql_str(tmp)}' (FORMAT parquet, COMPRESSION zstd)"
        ),
    )


_STORED = ", ".join(
    ['"session_id"::VARCHAR AS "session_id"', '"_row"::BIGINT AS "_row"']
    + [f'"{n}"::{_SQL_TYPES[t]} AS "{n}"' for n, t in COLUMNS.items() if n != "session_id"]
)
"""A ledger Parquet file's columns: the calls frame's, plus each row's place in its log."""


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
        calls["_row"] = np.arange(len(calls), dtype=np.int64)
        con.register("calls_frame", calls)
        try:
            _copy_to(con, f"SELECT {_STORED} FROM calls_frame", parquet)
        finally:
            con.unregister("calls_frame")
    doc = {
        "stamp": stamp,
        "calls": len(calls),
        "session": _jsonable(session),
        "bad": bad,
        "bad_calls": [(line, why) for _name, line, why in bad_calls],
    }
    _atomic_write(
        where / f"{stamp}.json", lambda tmp: tmp.write_text(json.dumps(doc), encoding="utf-8")
    )
    for old in where.iterdir():  # entries of earlier versions of the log
        if not old.name.startswith(stamp + ".") and not old.name.startswith("."):
            with contextlib.suppress(OSError):
                old.unlink()
    return Entry(log.stem, doc, parquet if len(calls) else None)


def _jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _read_entry(stem: str, where: Path, stamp: str) -> Entry | None:
    try:
        doc = json.loads((where / f"{stamp}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not built yet, or damaged: rebuilt
    if not isinstance(doc, dict) or doc.get("stamp") != stamp:
        return None
    parquet = where / f"{stamp}.parquet"
    if doc.get("calls") and not parquet.is_file():
        return None
    return Entry(stem, doc, parquet if doc.get("calls") else None)


# --- the segment: many entries in one file ------------------------------------------------
# Opening a Parquet file costs about as much as reading a thousand of its rows, so ten
# thousand short sessions would cost ten thousand opens. Entries are merged into one
# segment file once more than _COMPACT_AT of them are loose; the segment's manifest keeps
# their stamps, so an unchanged log costs one stat and no file read at all.

_COMPACT_AT = 32
_MANIFEST = "segment.json"


@dataclass
class Segment:
    """The merged entries: their Parquet file and their stamps (by log stem)."""

    file: Path
    entries: dict[str, dict[str, Any]]


def _read_segment(cache: Path) -> Segment | None:
    import orjson

    try:
        doc = orjson.loads((cache / _MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != _VERSION:
        return None
    file = cache / str(doc.get("file"))
    entries = doc.get("entries")
    if not isinstance(entries, dict) or not file.is_file():
        return None
    return Segment(file, cast("dict[str, dict[str, Any]]", entries))


def _compact(cache: Path, found: list[Entry], segment: Segment | None, con: Any) -> Segment:
    """One new segment holding every entry in ``found``; the manifest switches to it."""
    new = cache / f"segment-{os.getpid()}-{secrets.token_hex(6)}.parquet"
    select = _rows_select(found, segment)
    if select is None:
        # no calls at all: an empty segment of the same columns
        nulls = ", ".join(f"NULL::{part.split('::')[1]}" for part in _STORED.split(", "))
        select = f"SELECT {nulls} WHERE false"
    _copy_to(con, f"SELECT * FROM ({select}) ORDER BY session_id || '.jsonl', _row", new)
    merged = {e.stem: e.doc for e in found}
    doc = {"version": _VERSION, "file": new.name, "entries": merged}
    _atomic_write(cache / _MANIFEST, lambda tmp: tmp.write_text(json.dumps(doc), encoding="utf-8"))
    if segment is not None:  # a reader that still has it open keeps reading it (POSIX)
        with contextlib.suppress(OSError):
            segment.file.unlink()
    for e in found:  # the loose files are in the segment now (their folder stays: another
        # process may be writing a file of its own there at this moment)
        for suffix in (".parquet", ".json"):
            with contextlib.suppress(OSError):
                (cache / "logs" / e.stem / f"{e.doc['stamp']}{suffix}").unlink()
        e.parquet, e.in_segment = None, True
    return Segment(new, merged)


def _rows_select(found: list[Entry], segment: Segment | None) -> str | None:
    """A SELECT of the ledger rows of ``found`` (segment and loose files), or None."""
    parts: list[str] = []
    in_segment = {e.stem for e in found if e.in_segment}
    if segment is not None and in_segment:
        part = f"SELECT * FROM read_parquet('{_sql_str(segment.file)}')"
        stale = [stem for stem in segment.entries if stem not in in_segment]
        if stale:
            names = ", ".join("'" + s.replace("'", "''") + "'" for s in stale)
            part += f" WHERE session_id NOT IN ({names})"
        parts.append(part)
    loose = [e.parquet for e in found if e.parquet is not None]
    if loose:
        files = ", ".join(f"'{_sql_str(p)}'" for p in loose)
        parts.append(f"SELECT * FROM read_parquet([{files}])")
    return " UNION ALL ".join(parts) if parts else None


@dataclass
class Ledger:
    """A folder's ledger as read now: its entries and the SELECT of their rows."""

    entries: list[Entry]
    skipped_files: dict[str, str]
    rows: str | None
    """A SELECT of every call (the stored columns), or None when there is none."""
    loose: int
    """How many entries with calls are outside the segment (in files of their own)."""
    notes: list[str]
    """The warnings a read gives (lines and files skipped), in folder order."""


T = TypeVar("T")

_ATTEMPTS = 3


def read_ledger(folder: str | Path, use: Callable[[Any, Ledger], T]) -> T:
    """``use(connection, ledger)`` on the folder's ledger (entries rebuilt where stale).

    Another process may merge or replace ledger files while this one reads them: a file
    that vanished makes the whole read start again (up to three times). The read's
    warnings (``SessionFileWarning``, as :func:`load_sessions` gives) are given once, after
    it succeeded.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"no session folder at {root}: pass the folder that holds the .jsonl files "
            "(by default .a3s/sessions next to your notebook)"
        )
    duckdb = _duckdb()
    for attempt in range(_ATTEMPTS):
        con = connect()
        try:
            ledger = _scan(root, con)
            result = use(con, ledger)
        except (duckdb.IOException, FileNotFoundError):
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        finally:
            con.close()
        for note in ledger.notes:
            warnings.warn(note, SessionFileWarning, stacklevel=3)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def _scan(root: Path, con: Any) -> Ledger:
    from a3s_notebook.analysis.sessions import _describe, _file_problem

    found: list[Entry] = []
    skipped_files: dict[str, str] = {}
    notes: list[str] = []
    cache = root / LEDGER_DIR
    segment = _read_segment(cache)
    merged = segment.entries if segment is not None else {}
    # names and os.stat rather than Paths: with ten thousand logs, pathlib's own work was
    # a third of an unchanged folder's read
    with os.scandir(root) as listing:
        logs = sorted((e for e in listing if e.name.endswith(".jsonl")), key=lambda e: e.name)
    for found_log in logs:
        name, log = found_log.name, found_log.path
        stem = name[: -len(".jsonl")]
        try:
            info: os.stat_result | None = found_log.stat()
        except OSError:
            info = None
        entry = None
        if info is not None and stat.S_ISREG(info.st_mode) and info.st_size:
            stamp = _stamp_name(info)
            doc = merged.get(stem)
            if doc is not None and doc.get("stamp") == stamp:
                entry = Entry(stem, doc, None, in_segment=True)
            else:
                entry = _read_entry(stem, cache / "logs" / stem, stamp)
        if entry is None:
            where = cache / "logs" / stem
            data, why = _file_problem(Path(log))
            if data is None:
                skipped_files[name] = why or "unreadable"
                notes.append(f"{log}: skipped: {why}")
                continue
            # the stamp of the bytes read: a log that grows meanwhile is rebuilt next time
            stamp = _stamp_name(info) if info is not None else "unstamped"
            try:
                entry = _build(Path(log), data, where, stamp, con)
            except FileNotFoundError:
                raise  # a ledger file replaced by another process: read_ledger starts again
            except OSError as exc:
                raise OSError(
                    f"cannot write the cost ledger under {cache} ({exc}): use "
                    "load_sessions(folder), which writes nothing"
                ) from exc
        bad = entry.doc.get("bad") or []
        if bad:
            notes.append(
                f"{log}: skipped {len(bad)} line(s) that could not be read "
                f"({_describe(bad)}). Every other line was kept."
            )
        for line, problem in entry.doc.get("bad_calls") or ():
            notes.append(
                f"{log}: skipped line {line}: a malformed 'usage_recorded' record "
                f"({problem}). Every other line was kept."
            )
        if entry.session is not None:
            found.append(entry)
    loose = sum(1 for e in found if not e.in_segment)
    kept = {e.stem for e in found if e.in_segment}
    stale = sum(1 for stem in merged if stem not in kept)
    if loose + stale > _COMPACT_AT:
        segment = _compact(cache, found, segment, con)
    with_rows = sum(1 for e in found if e.parquet is not None)
    return Ledger(found, skipped_files, _rows_select(found, segment), with_rows, notes)


def calls_relation_sql(ledger: Ledger) -> str | None:
    """A SELECT of the calls in the calls frame's columns (any order), or None."""
    if ledger.rows is None:
        return None
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    return f"SELECT {cols} FROM ({ledger.rows})"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionFileWarning)
        yield


def load_calls(folder: str | Path = ".a3s/sessions") -> pd.DataFrame:
    """The calls frame of a folder of session logs: exactly ``load_sessions(folder).calls``
    (same columns, dtypes and rows, in the same order), read from the ledger (see the
    module's docstring).

    The first read of a log builds its ledger entry (as slow as ``load_sessions``); later
    reads of an unchanged log read only the Parquet file. Lines that cannot be read are
    skipped with a :class:`~a3s_notebook.engine.store.SessionFileWarning`, as in
    ``load_sessions``. Writes only under ``<folder>/.a3s/ledger``.
    """
    raw = read_ledger(folder, _calls_raw)
    if raw is None:
        return frame_from_columns({f: [] for f in RECORD_FIELDS})
    return _typed(raw)


def _calls_raw(con: Any, ledger: Ledger) -> pd.DataFrame | None:
    if ledger.rows is None:
        return None
    # Text columns come back as ENUMs (pandas categoricals): a million Python strings made
    # one by one were two thirds of the read, and these columns hold few distinct values
    # (sessions, models, cells, the lists of tool names as JSON text)
    cols = []
    for i, (name, dtype) in enumerate(COLUMNS.items()):
        if dtype not in ("string", "object"):
            cols.append(f'"{name}"')
            continue
        value = f'"{name}"' if dtype == "string" else f'to_json("{name}")::VARCHAR'
        con.execute(
            f'CREATE TYPE "_a3s_text{i}" AS ENUM '
            f"(SELECT DISTINCT {value} FROM ({ledger.rows}) WHERE {value} IS NOT NULL)"
        )
        cols.append(f'{value}::"_a3s_text{i}" AS "{name}"')
    # the rows in log order, files sorted by name (as load_sessions gives them): the
    # segment is stored in that order (a scan keeps it), loose files need a sort
    order = " ORDER BY session_id || '.jsonl', _row" if ledger.loose else ""
    raw: pd.DataFrame = con.execute(f"SELECT {', '.join(cols)} FROM ({ledger.rows}){order}").df()
    return raw


def _codes(col: pd.Series) -> tuple[np.ndarray, list[Any]]:  # type: ignore[type-arg]
    """A text column as codes into its distinct values (-1: missing)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), list(col.cat.categories)
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    return codes, list(uniques)


def _typed(raw: pd.DataFrame) -> pd.DataFrame:
    """DuckDB's frame with the calls frame's dtypes (see ``COLUMNS``); text columns may be
    categoricals or plain strings."""
    import orjson

    data: dict[str, Any] = {}
    for name, dtype in COLUMNS.items():
        col = raw[name]
        if dtype == "string":
            codes, uniques = _codes(col)
            values = pd.array(np.array(uniques, dtype=object), dtype="string")
            data[name] = values.take(codes, allow_fill=True)  # -1: <NA>
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
            codes, uniques = _codes(col)
            lists = np.empty(len(uniques) + 1, dtype=object)
            for i, u in enumerate(uniques):
                lists[i] = orjson.loads(u)
            lists[-1] = []  # a missing list (code -1) is an empty one, as load_sessions has it
            with _gc_paused():  # a million new lists set the cyclic GC off again and again
                copies = list(map(list.copy, lists[codes]))
            data[name] = pd.Series(copies, dtype=object).array
    # the arrays are new already: no second copy (a million rows, 19 columns)
    return pd.DataFrame(data, columns=list(COLUMNS), copy=False)
