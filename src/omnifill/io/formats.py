"""Reading the formats: CSV, Parquet and JSON Lines into raw tables (values as the file
has them, each row's physical line), and the problems collected while reading.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, Problem

DEFAULT_MAX_ERRORS = 100
DEFAULT_PROMISE_MIN = 60.0
TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}


# ---------------------------------------------------------------------------------------------
# Collecting problems


class Problems:
    """Collects problems up to a cap; ``raise_if_any`` raises them as one InputError."""

    def __init__(self, cap: int = DEFAULT_MAX_ERRORS):
        self.cap = cap
        self.items: list[Problem] = []
        self.truncated = False

    def add(self, problem: Problem) -> None:
        if len(self.items) < self.cap:
            self.items.append(problem)
        else:
            self.truncated = True

    def extend(self, problems) -> None:
        for p in problems:
            self.add(p)

    def __bool__(self) -> bool:
        return bool(self.items)

    def sorted(self) -> list[Problem]:
        """Problems grouped by file (in the order first seen), then by row."""
        first: dict[str, int] = {}
        for p in self.items:
            first.setdefault(p.file, len(first))
        return sorted(self.items, key=lambda p: (first[p.file], p.row or 0))

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(self.sorted(), truncated=self.truncated)


# ---------------------------------------------------------------------------------------------
# Raw tables


@dataclass
class Table:
    """Raw columns of one file. ``lines[i]`` is the physical line of data row i+1 (or None).
    ``origin``, when set, maps a row index to (file, 1-based row, line) for a table that is
    a filtered or concatenated view of files (``read_rows``)."""

    path: str
    columns: dict[str, list]
    n_rows: int
    lines: list[int] | None = None
    origin: Callable[[int], tuple[str, int | None, int | None]] | None = None

    def problem(self, row_index: int | None, column: str | None, value, message: str) -> Problem:
        if row_index is not None and self.origin is not None:
            path, row, line = self.origin(row_index)
            return Problem(path, row, column, value, message, line)
        row = None if row_index is None else row_index + 1
        line = None if (row_index is None or self.lines is None) else self.lines[row_index]
        return Problem(self.path, row, column, value, message, line)


def table_of(obj, name: str) -> Table:
    """An in-memory table as raw columns: a mapping of column to values, a pandas DataFrame
    or a pyarrow Table. ``name`` stands for the file name in errors."""
    if hasattr(obj, "to_pydict"):  # pyarrow
        cols = obj.to_pydict()
    elif hasattr(obj, "columns") and hasattr(obj, "iloc"):  # pandas
        cols = {str(c): obj[c].tolist() for c in obj.columns}
    elif hasattr(obj, "items"):
        cols = {str(k): list(v) for k, v in obj.items()}
    else:
        raise TypeError(f"{name}: expected a mapping of columns, a DataFrame or a pyarrow Table, "
                        f"got {type(obj).__name__}")
    lengths = {len(v) for v in cols.values()}
    if len(lengths) > 1:
        raise InputError([Problem(name, None, None, None, f"columns have different lengths: {sorted(lengths)}")])
    return Table(name, cols, lengths.pop() if lengths else 0, None)


def file_format(path) -> str:
    name = str(path).lower()
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".pq", "parquet"),
                        (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".geojson", "geojson"),
                        (".json", "json")):
        if name.endswith(suffix):
            return fmt
    return "unknown"


def read_table(path, *, allow_jsonl: bool = False) -> Table:
    """Read a CSV, Parquet (needs pyarrow: ``pip install omnifill[io]``) or JSON Lines file.

    JSON Lines objects with a ``lines`` list (the router's order format) become one row per
    line, the order's other fields repeated. Raises InputError for unreadable files.
    """
    p = str(path)
    fmt = file_format(p)
    if not os.path.exists(p):
        raise InputError([Problem(p, None, None, None, "file not found")])
    if os.path.isdir(p):
        raise InputError([Problem(p, None, None, None, "is a directory, expected a file")])
    if fmt == "csv":
        return _read_csv(p)
    if fmt == "parquet":
        return _read_parquet(p)
    if fmt in ("jsonl", "json") and allow_jsonl:
        return _read_jsonl(p)
    kinds = "CSV (.csv), Parquet (.parquet)" + (", JSON Lines (.jsonl)" if allow_jsonl else "")
    raise InputError([Problem(p, None, None, None, f"unknown file type; expected {kinds}")])


def read_rows(paths, name: str, *, column: str | None = None, keep=None, extra: dict | None = None) -> Table:
    """The rows of one or more files (CSV or Parquet) as one table named ``name``, keeping
    only the rows whose ``column`` is in ``keep`` when both are given (Parquet is filtered
    batch by batch, so the whole file is never held), with ``extra`` constant columns added.
    Problems name each row's own file and row."""
    paths = [str(p) for p in paths]
    starts, files, cols_out = [0], [], {}
    parts: list[tuple[Table, np.ndarray | None]] = []
    for p in paths:
        if keep is not None and column is not None and file_format(p) == "parquet":
            t, rows = _read_parquet_where(p, column, keep)
        else:
            t = read_table(p)
            rows = None
            if keep is not None and column is not None and column in t.columns:
                ks = set(keep)
                rows = np.array([i for i, v in enumerate(t.columns[column]) if str(v) in ks], dtype=np.int64)
                t = Table(p, {k: [v[i] for i in rows] for k, v in t.columns.items()}, len(rows),
                          [t.lines[i] for i in rows] if t.lines is not None else None)
        parts.append((t, rows))
        files.append(p)
        starts.append(starts[-1] + t.n_rows)
    names: list[str] = []
    for t, _ in parts:
        names += [k for k in t.columns if k not in names]
    for k in names:
        cols_out[k] = [v for t, _ in parts for v in t.columns.get(k, [None] * t.n_rows)]
    n = starts[-1]
    for k, v in (extra or {}).items():
        cols_out[k] = [v] * n
    bounds = np.asarray(starts)

    def origin(i: int):
        f = int(np.searchsorted(bounds, i, side="right")) - 1
        t, rows = parts[f]
        j = i - starts[f]
        return files[f], (int(rows[j]) if rows is not None else j) + 1, t.lines[j] if t.lines is not None else None

    return Table(name, cols_out, n, None, origin)


def _read_parquet_where(p: str, column: str, keep) -> tuple[Table, np.ndarray]:
    t, r = arrow_where(p, column, keep)
    return Table(p, {name: t.column(name).to_pylist() for name in t.column_names}, len(r), None), r


def arrow_where(p: str, column: str | None = None, keep=None):
    """A Parquet file as a pyarrow table, only the rows whose ``column`` is in ``keep``
    when given (read batch by batch), and those rows' 0-based numbers in the file."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError([Problem(p, None, None, None,
                                  "reading Parquet needs pyarrow: pip install 'omnifill[io]'")]) from None
    if not os.path.exists(p):
        raise InputError([Problem(p, None, None, None, "file not found")])
    try:
        if column is None:
            t = pq.read_table(p)
            return t, np.arange(t.num_rows, dtype=np.int64)
        values = pa.array(sorted(set(map(str, keep))), pa.string())
        batches, rows, offset = [], [], 0
        f = pq.ParquetFile(p)
        if column not in f.schema_arrow.names:
            raise InputError([Problem(p, None, column, None, "required column is missing")])
        for b in f.iter_batches(batch_size=1 << 16):
            col = b.column(column)
            if pa.types.is_dictionary(col.type):
                col = col.cast(pa.string())
            elif not pa.types.is_string(col.type):
                col = pc.cast(col, pa.string())
            idx = np.flatnonzero(pc.is_in(col, value_set=values).to_numpy(zero_copy_only=False))
            if len(idx):
                batches.append(b.take(pa.array(idx)))
                rows.append(idx + offset)
            offset += b.num_rows
    except InputError:
        raise
    except Exception as e:  # pyarrow raises several types for a bad file
        raise InputError([Problem(p, None, None, None, f"not readable as Parquet: {e}")]) from None
    t = pa.Table.from_batches(batches) if batches else f.schema_arrow.empty_table()
    return t, (np.concatenate(rows) if rows else np.zeros(0, np.int64))


def _read_csv(p: str) -> Table:
    try:
        fh = open(p, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise InputError([Problem(p, None, None, None, f"cannot open: {e.strerror}")]) from None
    problems = Problems()
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError([Problem(p, None, None, None, "file is empty (no header row)")]) from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise InputError([Problem(p, None, None, None, f"not readable as CSV: {e}")]) from None
        header = [h.strip() for h in header]
        seen = set()
        for h in header:
            if h in seen:
                problems.add(Problem(p, None, h, None, "column appears twice in the header"))
            seen.add(h)
        if any(h == "" for h in header):
            problems.add(Problem(p, None, None, None, "the header has an empty column name"))
        problems.raise_if_any()
        cols: list[list] = [[] for _ in header]
        lines: list[int] = []
        width = len(header)
        start = reader.line_num + 1
        try:
            for rec in reader:
                if not rec or (len(rec) == 1 and rec[0].strip() == "" and width > 1):
                    start = reader.line_num + 1
                    continue  # blank line
                if len(rec) != width:
                    problems.add(Problem(p, len(lines) + 1, None, None,
                                         f"row has {len(rec)} fields, the header has {width}", start))
                    rec = (rec + [""] * width)[:width]
                for c, v in zip(cols, rec):
                    c.append(v)
                lines.append(start)
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as e:
            problems.add(Problem(p, len(lines) + 1, None, None, f"not readable as CSV: {e}", start))
        problems.raise_if_any()
    return Table(p, dict(zip(header, cols)), len(lines), lines)


def _read_parquet(p: str) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError([Problem(p, None, None, None,
                                  "reading Parquet needs pyarrow: pip install 'omnifill[io]'")]) from None
    try:
        t = pq.read_table(p)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise InputError([Problem(p, None, None, None, f"not readable as Parquet: {e}")]) from None
    cols = {name: t.column(name).to_pylist() for name in t.column_names}
    return Table(p, cols, t.num_rows, None)


def _json_lines(p: str):
    """Yield (physical line, object, problem) for every non-blank line of a JSON Lines file:
    problem is None, or (value, message) when the line is not a JSON object."""
    try:
        fh = open(p, encoding="utf-8")
    except OSError as e:
        raise InputError([Problem(p, None, None, None, f"cannot open: {e.strerror}")]) from None
    with fh:
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield lineno, None, (text.strip()[:40], f"not valid JSON: {e.msg}")
                continue
            if not isinstance(obj, dict):
                yield lineno, None, (obj, "each line must be a JSON object")
                continue
            yield lineno, obj, None


def _read_jsonl(p: str) -> Table:
    problems = Problems()
    rows: list[dict] = []
    lines: list[int] = []
    for lineno, obj, bad in _json_lines(p):
        if bad is not None:
            problems.add(Problem(p, len(rows) + 1, None, bad[0], bad[1], lineno))
            continue
        if "lines" in obj:
            sub = obj.get("lines")
            if not isinstance(sub, list) or not sub:
                problems.add(Problem(p, len(rows) + 1, "lines", sub, "must be a non-empty list of {sku, qty}", lineno))
                continue
            head = {k: v for k, v in obj.items() if k != "lines"}
            for item in sub:
                if not isinstance(item, dict):
                    problems.add(Problem(p, len(rows) + 1, "lines", item, "each line must be an object {sku, qty}",
                                         lineno))
                    continue
                rows.append({**head, **item})
                lines.append(lineno)
        else:
            rows.append(obj)
            lines.append(lineno)
    problems.raise_if_any()
    names: list[str] = []
    for r in rows:
        for k in r:
            if k not in names:
                names.append(k)
    cols = {k: [r.get(k) for r in rows] for k in names}
    return Table(p, cols, len(rows), lines)


def read_json_objects(path, probs: Problems) -> list[tuple[int, int, dict]]:
    """A JSON Lines file as (row, physical line, object), blank lines skipped; row is the
    object's 1-based number. Lines that are not a JSON object are problems."""
    p = str(path)
    if not os.path.exists(p):
        raise InputError([Problem(p, None, None, None, "file not found")])
    out: list[tuple[int, int, dict]] = []
    for n, (lineno, obj, bad) in enumerate(_json_lines(p), start=1):
        if bad is not None:
            probs.add(Problem(p, n, None, bad[0], bad[1], lineno))
        else:
            out.append((n, lineno, obj))
    return out
