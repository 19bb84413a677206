"""Loaders and writers for omnifill's file formats (docs/file-formats.md), with row-level validation.

Reading is two steps. ``read_table`` turns a CSV, Parquet or JSON Lines file into raw
columns (values as the file has them) plus the physical line of each row. The ``load_*``
functions then convert and check every column, collecting every problem (up to a cap) as a
``Problem`` naming the file, the row, the column and the value, and raise one ``InputError``
at the end. Nothing here builds indexes (model does) or writes partial output: writers go to
a temporary file in the target directory and rename it into place.

Row numbers are 1-based data rows (the header is not a row). For text files the physical
line is given too.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from .errors import InputError, Problem
from .geo import ZONE_TIERS

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
        first = {}
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
    origin: object = None

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


# ---------------------------------------------------------------------------------------------
# Column conversion: vectorised fast path, a per-value pass only to name the bad rows


def _missing(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _require(t: Table, names, probs: Problems) -> bool:
    if t.n_rows == 0:
        what = "file has a header but no data rows" if file_format(t.path) == "csv" else "file has no data rows"
        probs.add(Problem(t.path, None, None, None, what))
        return False
    missing = [n for n in names if n not in t.columns]
    for n in missing:
        probs.add(Problem(t.path, None, n, None,
                          f"required column is missing (columns found: {', '.join(t.columns) or 'none'})"))
    return not missing


def float_col(t: Table, name: str, probs: Problems, *, default=None, lo=-math.inf, hi=math.inf,
              lo_open=False, what="a number") -> np.ndarray:
    """Column as float64. Missing values take ``default`` (error when None); NaN is an error."""
    raw = t.columns.get(name)
    if raw is None:
        return np.full(t.n_rows, np.nan if default is None else default, dtype=np.float64)
    out = np.empty(t.n_rows, dtype=np.float64)
    given = np.ones(t.n_rows, dtype=bool)  # False where a missing value took the default
    try:
        if default is not None or any(isinstance(v, bool) for v in raw):
            raise ValueError  # missing cells and booleans (JSON, Parquet) need the per-value path
        out[:] = np.asarray(raw, dtype=np.float64)
        fast = True
    except (ValueError, TypeError):
        fast = False
    if not fast:
        for i, v in enumerate(raw):
            if _missing(v):
                if default is None:
                    probs.add(t.problem(i, name, v, f"is missing; expected {what}"))
                    out[i] = np.nan
                else:
                    out[i] = default
                    given[i] = False
                continue
            if isinstance(v, bool):
                probs.add(t.problem(i, name, v, f"is not {what}"))
                out[i] = np.nan
                continue
            try:
                out[i] = float(v)
            except (ValueError, TypeError):
                probs.add(t.problem(i, name, v, f"is not {what}"))
                out[i] = np.nan
                continue
            if math.isnan(out[i]):
                probs.add(t.problem(i, name, v, "is NaN"))
    else:
        for i in np.flatnonzero(np.isnan(out))[: probs.cap + 1]:
            probs.add(t.problem(int(i), name, raw[i],
                                "is NaN" if not _missing(raw[i]) else f"is missing; expected {what}"))
    ok = ~np.isnan(out)
    inf = given & ok & np.isinf(out)
    for i in np.flatnonzero(inf)[: probs.cap + 1]:
        probs.add(t.problem(int(i), name, raw[i], f"is infinite; expected {what}"))
    bad = given & ok & ~inf & ((out <= lo if lo_open else out < lo) | (out > hi))
    for i in np.flatnonzero(bad)[: probs.cap + 1]:
        rng = f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi != math.inf else "")
        probs.add(t.problem(int(i), name, raw[i], f"is out of range; expected {what} {rng}"))
    return out


def int_col(t: Table, name: str, probs: Problems, *, default=None, lo=None, what="an integer") -> np.ndarray:
    """Column as int64; fractional values, NaN and values below ``lo`` are errors."""
    f = float_col(t, name, probs, default=default, what=what)
    raw = t.columns.get(name)
    okv = np.isfinite(f)
    frac = okv & (f != np.floor(f))
    for i in np.flatnonzero(frac)[: probs.cap + 1]:
        probs.add(t.problem(int(i), name, raw[i], f"is not a whole number; expected {what}"))
    low = okv & ~frac & (f < lo) if lo is not None else np.zeros(t.n_rows, bool)
    for i in np.flatnonzero(low)[: probs.cap + 1]:
        probs.add(t.problem(int(i), name, raw[i], f"is out of range; expected {what} >= {lo}"))
    big = okv & (np.abs(f) > 2**53)
    for i in np.flatnonzero(big)[: probs.cap + 1]:
        probs.add(t.problem(int(i), name, raw[i], "is too large"))
    out = np.where(okv & ~big, f, 0).astype(np.int64)
    return out


def str_col(t: Table, name: str, probs: Problems, *, required: bool = True,
            default: str | None = None) -> np.ndarray:
    """Column as an object array of stripped str; a missing value is an error when required,
    else ``default``."""
    raw = t.columns.get(name)
    if raw is None:
        return np.full(t.n_rows, default, dtype=object)
    out = np.empty(t.n_rows, dtype=object)
    for i, v in enumerate(raw):
        if _missing(v) or (isinstance(v, float) and math.isnan(v)):
            if required:
                probs.add(t.problem(i, name, v, "is missing"))
            out[i] = default
        elif isinstance(v, (dict, list, bool)):
            probs.add(t.problem(i, name, v, "must be a text value"))
            out[i] = default
        else:
            out[i] = (v.strip() if isinstance(v, str)
                      else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return out


def bool_col(t: Table, name: str, probs: Problems, *, default: bool) -> np.ndarray:
    raw = t.columns.get(name)
    out = np.full(t.n_rows, default, dtype=bool)
    if raw is None:
        return out
    for i, v in enumerate(raw):
        if _missing(v):
            continue
        if isinstance(v, bool):
            out[i] = v
        elif isinstance(v, (int, float)) and v in (0, 1):
            out[i] = bool(v)
        elif isinstance(v, str) and v.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            out[i] = v.strip().lower() in TRUE_WORDS
        else:
            probs.add(t.problem(i, name, v, "is not a boolean; expected true or false"))
    return out


def enum_col(t: Table, name: str, probs: Problems, allowed: tuple[str, ...], *, default: str) -> np.ndarray:
    out = str_col(t, name, probs, required=False, default=default)
    for i, v in enumerate(out):
        if v not in allowed:
            probs.add(t.problem(i, name, v, f"is not one of: {', '.join(allowed)}"))
            out[i] = default
    return out


def _coords(t: Table, probs: Problems):
    lat = float_col(t, "lat", probs, lo=-90, hi=90, what="a latitude in degrees")
    lon = float_col(t, "lon", probs, lo=-180, hi=180, what="a longitude in degrees")
    return lat, lon


def _extra(t: Table, known) -> dict[str, list]:
    return {k: v for k, v in t.columns.items() if k not in known}


def _index_lookup(t: Table, name: str, values: np.ndarray, index: dict[str, int] | None,
                  probs: Problems, what: str) -> np.ndarray:
    out = np.full(t.n_rows, -1, dtype=np.int64)
    if index is None:
        return out
    for i, v in enumerate(values):
        if v is None:
            continue
        j = index.get(v)
        if j is None:
            probs.add(t.problem(i, name, v, f"names a {what} that is not in the stores file"))
        else:
            out[i] = j
    return out


# ---------------------------------------------------------------------------------------------
# The file contracts (docs/file-formats.md)

STORE_KINDS = ("store", "warehouse")
ORDER_MODES = ("deliver", "pickup")
STORE_COLUMNS = ("store_id", "lat", "lon", "city", "kind", "handling_min", "capacity",
                 "delivers", "pickup", "transfers_out")


@dataclass
class StoresTable:
    path: str
    store_id: np.ndarray  # object str, file order
    lat: np.ndarray
    lon: np.ndarray
    city: np.ndarray  # object str
    kind: np.ndarray  # object str
    handling_min: np.ndarray  # NaN: use the config's default
    capacity: np.ndarray  # float, inf: unlimited
    delivers: np.ndarray
    pickup: np.ndarray
    transfers_out: np.ndarray
    extra: dict[str, list] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.store_id)}


def load_stores(path, *, probs: Problems | None = None) -> StoresTable:
    own = probs is None
    probs = probs if probs is not None else Problems()
    st = load_stores_table(read_table(path), probs)
    if own:
        probs.raise_if_any()
    return st


def load_stores_table(t: Table, probs: Problems) -> StoresTable:
    if not _require(t, ("store_id", "lat", "lon"), probs):
        probs.raise_if_any()
    sid = str_col(t, "store_id", probs)
    first: dict[str, int] = {}
    for i, s in enumerate(sid):
        if s is None:
            continue
        if s in first:
            probs.add(t.problem(i, "store_id", s, f"duplicate store id (first at row {first[s] + 1})"))
        else:
            first[s] = i
    lat, lon = _coords(t, probs)
    st = StoresTable(
        path=t.path, store_id=sid, lat=lat, lon=lon,
        city=str_col(t, "city", probs, required=False, default="default"),
        kind=enum_col(t, "kind", probs, STORE_KINDS, default="store"),
        handling_min=float_col(t, "handling_min", probs, default=np.nan, lo=0, what="minutes"),
        capacity=float_col(t, "capacity", probs, default=np.inf, lo=0, what="a package count"),
        delivers=bool_col(t, "delivers", probs, default=True),
        pickup=bool_col(t, "pickup", probs, default=True),
        transfers_out=bool_col(t, "transfers_out", probs, default=True),
        extra=_extra(t, STORE_COLUMNS),
    )
    cap = st.capacity
    frac = np.isfinite(cap) & (cap != np.floor(cap))
    for i in np.flatnonzero(frac)[: probs.cap + 1]:
        probs.add(t.problem(int(i), "capacity", t.columns["capacity"][i], "is not a whole number of packages"))
    return st


@dataclass
class InventoryTable:
    path: str
    store: np.ndarray  # int64 index into the stores table
    sku: np.ndarray | None  # object str (None when coded: ``sku_names[sku_code]``)
    on_hand: np.ndarray  # int64
    safety_stock: np.ndarray  # int64
    sku_names: np.ndarray | None = None  # sorted object str, with sku_code: the fast path's form
    sku_code: np.ndarray | None = None


def load_inventory(path, store_index: dict[str, int] | None, *, probs: Problems | None = None) -> InventoryTable:
    own = probs is None
    probs = probs if probs is not None else Problems()
    inv = load_inventory_table(read_table(path), store_index, probs)
    if own:
        probs.raise_if_any()
    return inv


def load_inventory_table(t: Table, store_index: dict[str, int] | None, probs: Problems) -> InventoryTable:
    if not _require(t, ("store_id", "sku", "on_hand"), probs):
        probs.raise_if_any()
    sid = str_col(t, "store_id", probs)
    store = _index_lookup(t, "store_id", sid, store_index, probs, "store")
    sku = str_col(t, "sku", probs)
    on_hand = int_col(t, "on_hand", probs, lo=0, what="a stock count")
    safety = int_col(t, "safety_stock", probs, default=0, lo=0, what="a stock count")
    seen: dict[tuple, int] = {}
    for i, key in enumerate(zip(sid, sku)):
        if key[0] is None or key[1] is None:
            continue
        if key in seen:
            probs.add(t.problem(i, "sku", key[1],
                                f"duplicate (store_id, sku) = ({key[0]!r}, {key[1]!r}) (first at row {seen[key] + 1})"))
        else:
            seen[key] = i
    return InventoryTable(t.path, store, sku, on_hand, safety)


ORDER_LEVEL = ("lat", "lon", "promise_min", "city", "mode", "pickup_store", "home_store",
               "current_store", "locked")
ORDER_COLUMNS = ("order_id", "sku", "qty") + ORDER_LEVEL


@dataclass
class OrdersTable:
    """Orders, one row per line as in the file, plus the order each row belongs to."""

    path: str
    order_id: np.ndarray  # per order, first-appearance order (object str)
    order_of_row: np.ndarray  # per row: its order's position
    row_of_order: np.ndarray  # per order: its first row
    lat: np.ndarray  # per order
    lon: np.ndarray
    promise_min: np.ndarray
    city: np.ndarray  # object (None: nearest store's city)
    mode: np.ndarray  # object str
    pickup_store: np.ndarray  # int64 store index, -1 none
    home_store: np.ndarray
    current_store: np.ndarray
    locked: np.ndarray  # bool
    sku: np.ndarray  # per row, object str
    qty: np.ndarray  # per row, int64
    extra: dict[str, list] = field(default_factory=dict)  # per row


def load_orders(path, store_index: dict[str, int] | None, *, probs: Problems | None = None) -> OrdersTable:
    own = probs is None
    probs = probs if probs is not None else Problems()
    orders = load_orders_table(read_table(path, allow_jsonl=True), store_index, probs)
    if own:
        probs.raise_if_any()
    return orders


def load_orders_table(t: Table, store_index: dict[str, int] | None, probs: Problems) -> OrdersTable:
    if not _require(t, ("order_id", "lat", "lon", "sku", "qty"), probs):
        probs.raise_if_any()
    oid = str_col(t, "order_id", probs)
    lat, lon = _coords(t, probs)
    sku = str_col(t, "sku", probs)
    qty = int_col(t, "qty", probs, lo=1, what="a whole quantity")
    promise = float_col(t, "promise_min", probs, default=DEFAULT_PROMISE_MIN, lo=0, lo_open=True, what="minutes")
    city = str_col(t, "city", probs, required=False)
    mode = enum_col(t, "mode", probs, ORDER_MODES, default="deliver")
    refs = {}
    for col in ("pickup_store", "home_store", "current_store"):
        refs[col] = _index_lookup(t, col, str_col(t, col, probs, required=False), store_index, probs, "store")
    locked = bool_col(t, "locked", probs, default=False)
    no_pickup = np.array([_missing(v) for v in t.columns.get("pickup_store", [None] * t.n_rows)], dtype=bool)
    for i in np.flatnonzero((mode == "pickup") & no_pickup)[: probs.cap + 1]:
        probs.add(t.problem(int(i), "pickup_store", None, "is missing; a pickup order must name its pickup store"))
    # group rows into orders, first appearance first
    pos: dict[str, int] = {}
    order_of_row = np.empty(t.n_rows, dtype=np.int64)
    first_rows: list[int] = []
    for i, o in enumerate(oid):
        k = pos.get(o)
        if k is None:
            k = pos[o] = len(first_rows)
            first_rows.append(i)
        order_of_row[i] = k
    row_of_order = np.asarray(first_rows, dtype=np.int64)
    # order-level fields must agree across an order's lines
    per_row = {"lat": lat, "lon": lon, "promise_min": promise, "city": city, "mode": mode,
               "pickup_store": refs["pickup_store"], "home_store": refs["home_store"],
               "current_store": refs["current_store"], "locked": locked}
    for col, arr in per_row.items():
        if col not in t.columns:
            continue
        ref = arr[row_of_order[order_of_row]]
        differ = np.flatnonzero(np.array([not _same(a, b) for a, b in zip(arr, ref)], dtype=bool))
        for i in differ[: probs.cap + 1]:
            first = int(row_of_order[order_of_row[i]])
            probs.add(t.problem(int(i), col, t.columns[col][i],
                                f"differs from this order's first line (row {first + 1}: {t.columns[col][first]!r}); "
                                "order-level columns must be the same on every line of an order"))
    ro = row_of_order
    return OrdersTable(
        path=t.path, order_id=oid[ro] if len(ro) else np.zeros(0, object), order_of_row=order_of_row,
        row_of_order=ro, lat=lat[ro], lon=lon[ro], promise_min=promise[ro], city=city[ro], mode=mode[ro],
        pickup_store=refs["pickup_store"][ro], home_store=refs["home_store"][ro],
        current_store=refs["current_store"][ro], locked=locked[ro], sku=sku, qty=qty,
        extra=_extra(t, ORDER_COLUMNS),
    )


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@dataclass
class ZoneFeature:
    store: int
    tier: int
    geometry: object


def load_zones(path, store_index: dict[str, int] | None, *, probs: Problems | None = None) -> list[ZoneFeature]:
    """A GeoJSON FeatureCollection of Polygon / MultiPolygon zones (store_id, promise_min)."""
    own = probs is None
    probs = probs if probs is not None else Problems()
    p = str(path)
    if not os.path.exists(p):
        raise InputError([Problem(p, None, None, None, "file not found")])
    try:
        with open(p, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError([Problem(p, None, None, None, f"not valid JSON: {e}")]) from None
    if (not isinstance(data, dict) or data.get("type") != "FeatureCollection"
            or not isinstance(data.get("features"), list)):
        raise InputError([Problem(p, None, "type", data.get("type") if isinstance(data, dict) else None,
                                  "expected a GeoJSON FeatureCollection with a features list")])
    out: list[ZoneFeature] = []
    seen: dict[tuple[int, int], int] = {}
    for k, feat in enumerate(data["features"], start=1):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            probs.add(Problem(p, k, "type", feat.get("type") if isinstance(feat, dict) else feat,
                              f"is not a GeoJSON Feature (feature {k})"))
            continue
        props = feat.get("properties") or {}
        geom_json = feat.get("geometry")
        gtype = geom_json.get("type") if isinstance(geom_json, dict) else None
        geom = None
        if gtype in ("Polygon", "MultiPolygon"):
            try:
                geom = shapely.from_geojson(json.dumps(geom_json))
            except Exception as e:  # shapely raises GEOSException and others
                probs.add(Problem(p, k, "geometry", gtype, f"is not valid GeoJSON geometry: {e} (feature {k})"))
                continue
        z = _zone_feature(p, k, props.get("store_id"), props.get("promise_min"), geom, gtype, store_index,
                          seen, probs)
        if z is not None:
            out.append(z)
    if own:
        probs.raise_if_any()
    return out


def zones_from_triples(triples, store_index: dict[str, int], probs: Problems,
                       name: str = "<zones>") -> list[ZoneFeature]:
    """Zones given in memory as (store_id, promise_min, shapely geometry), checked as the
    GeoJSON file's features are; row k is the k-th triple."""
    out: list[ZoneFeature] = []
    seen: dict[tuple[int, int], int] = {}
    for k, (sid, tier, geom) in enumerate(triples, start=1):
        gtype = getattr(geom, "geom_type", type(geom).__name__)
        z = _zone_feature(name, k, sid, tier, geom if gtype in ("Polygon", "MultiPolygon") else None, gtype,
                          store_index, seen, probs)
        if z is not None:
            out.append(z)
    return out


def _zone_feature(path, k, sid, tier, geom, gtype, store_index, seen, probs) -> ZoneFeature | None:
    # one zone's checks, shared by the GeoJSON file and in-memory triples; None when bad
    def bad(col, val, msg):
        probs.add(Problem(path, k, col, val, msg + f" (feature {k})"))

    if sid is None or (isinstance(sid, str) and not sid.strip()):
        bad("store_id", sid, "is missing")
        return None
    sid = str(sid).strip()
    store = -1
    if store_index is not None:
        store = store_index.get(sid, -1)
        if store < 0:
            bad("store_id", sid, "names a store that is not in the stores file")
            return None
    if isinstance(tier, bool) or tier not in ZONE_TIERS:
        bad("promise_min", tier, f"must be one of {', '.join(map(str, ZONE_TIERS))}")
        return None
    if geom is None:
        bad("geometry", gtype, "must be a Polygon or MultiPolygon")
        return None
    if geom.is_empty:
        bad("geometry", gtype, "is empty")
        return None
    b = shapely.bounds(geom)
    if not (np.isfinite(b).all() and -180 <= b[0] and b[2] <= 180 and -90 <= b[1] and b[3] <= 90):
        bad("geometry", b.tolist(), "has coordinates outside lon -180..180, lat -90..90")
        return None
    if not shapely.is_valid(geom):
        bad("geometry", gtype, f"is not a valid polygon: {shapely.is_valid_reason(geom)}")
        return None
    key = (store, int(tier))
    if store >= 0 and key in seen:
        bad("store_id", sid, f"has a second {tier}-minute zone (first in feature {seen[key]})")
        return None
    seen[key] = k
    return ZoneFeature(store, int(tier), geom)


# ---------------------------------------------------------------------------------------------
# Writing: never a partial file


def json_default(v):
    """``json.dumps``'s ``default`` for numpy scalars (in rows, decisions and summaries)."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


@contextlib.contextmanager
def new_directory(out_dir):
    """Yield a temporary directory beside ``out_dir`` to fill; renamed onto ``out_dir`` when
    the block ends, removed when it raises: an interrupted writer leaves no half-written
    directory. FileExistsError when ``out_dir`` exists (a writer makes a new directory)."""
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out} exists; it is written as a new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; give the directory the usual mode
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def check_output_path(path, flag: str) -> None:
    """An InputError naming ``flag`` unless a file can be written at ``path``: its folder
    exists and is a folder, and the path is not a folder itself. For checking every output
    of a command before any work starts."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    why = None
    if p.is_dir():
        why = "is a folder; expected a file name"
    elif not parent.exists():
        why = f"its folder {str(parent)!r} does not exist"
    elif not parent.is_dir():
        why = f"{str(parent)!r} is not a folder"
    elif not os.access(parent, os.W_OK):
        why = f"its folder {str(parent)!r} is not writable"
    if why:
        raise InputError([Problem(flag, None, None, str(path), why)])


# The group atomic_write is writing into, when inside ``written_together`` (one per thread)
_group = threading.local()


@contextlib.contextmanager
def written_together(*paths):
    """Inside this block an ``atomic_write`` (and so ``write_text``, ``write_csv`` and
    ``Plan.write``) to one of ``paths`` writes its temporary file but renames it only when
    the block ends, and removes it when the block raises: a command's outputs (the plan, the
    summary, the report) appear together or not at all. Writes to other paths (a partitioned
    run's own work files) go through at once."""
    staged: list[tuple[str, Path]] = []
    outer = getattr(_group, "state", None)
    _group.state = (staged, {os.path.abspath(p) for p in paths if p is not None})
    try:
        yield
        for tmp, path in staged:
            os.replace(tmp, path)
        staged.clear()
    finally:
        _group.state = outer
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def atomic_write(path, write) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` (inside
    ``written_together``: when the whole group has been written)."""
    path = Path(path)
    d = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        state = getattr(_group, "state", None)
        if state is not None and os.path.abspath(path) in state[1]:
            state[0].append((tmp, path))
            return
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically (``atomic_write``)."""

    def _w(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(path, _w)


def write_csv(path, columns: dict[str, list]) -> None:
    names = list(columns)
    n = len(next(iter(columns.values()))) if names else 0

    def _w(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(names)
            cols = [columns[k] for k in names]
            for i in range(n):
                w.writerow([c[i] for c in cols])

    atomic_write(path, _w)


# ---------------------------------------------------------------------------------------------
# Arrow fast paths: a whole valid table checked and converted with vectorised kernels. They
# answer None at the first thing that is not plainly valid; the caller then runs the row-level
# loaders above, which name every bad row. So the fast path never decides an error message.


def _arrow_str(col):
    """A pyarrow column as a plain string array with no nulls or blank values, or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) or col.null_count:
        return None
    trimmed = pc.utf8_trim_whitespace(col)
    if not pc.all(pc.equal(trimmed, col)).as_py() or pc.any(pc.equal(pc.utf8_length(col), 0)).as_py():
        return None
    return col


def _arrow_int(col, lo: int) -> np.ndarray | None:
    import pyarrow as pa

    if not pa.types.is_integer(col.type) or col.null_count:
        return None
    a = col.to_numpy().astype(np.int64) if hasattr(col, "to_numpy") else None
    return a if a is not None and (a.size == 0 or a.min() >= lo) else None


def _arrow_float(col, lo: float, hi: float, lo_open: bool = False) -> np.ndarray | None:
    import pyarrow as pa

    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)) or col.null_count:
        return None
    a = col.to_numpy().astype(np.float64)
    if a.size and (not np.isfinite(a).all() or (a <= lo if lo_open else a < lo).any() or (a > hi).any()):
        return None
    return a


def _codes(col, store_index: dict[str, int]):
    """Store ids to positions; None if any is unknown."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pa.array(list(store_index), pa.string())
    pos = np.fromiter(store_index.values(), np.int64, len(store_index))
    k = pc.index_in(col, value_set=keys)
    if k.null_count:
        return None
    return pos[k.to_numpy()]


def _chunk(a):
    return a.combine_chunks() if hasattr(a, "combine_chunks") else a


def _encode(col):
    """Sorted distinct values (object str) and each row's code into them."""
    import pyarrow.compute as pc

    enc = _chunk(pc.dictionary_encode(col))
    names = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    order = np.argsort(names.astype(str), kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return names[order], rank[enc.indices.to_numpy()]


def arrow_inventory(tbl, path: str, store_index: dict[str, int]) -> InventoryTable | None:
    """A valid inventory pyarrow table in the coded form, or None (see above)."""
    names = set(tbl.column_names)
    if not {"store_id", "sku", "on_hand"} <= names or names - {"store_id", "sku", "on_hand", "safety_stock"}:
        return None
    sid, sku = _arrow_str(tbl.column("store_id")), _arrow_str(tbl.column("sku"))
    on_hand = _arrow_int(tbl.column("on_hand"), 0)
    safety = _arrow_int(tbl.column("safety_stock"), 0) if "safety_stock" in names else np.zeros(tbl.num_rows, np.int64)
    if sid is None or sku is None or on_hand is None or safety is None:
        return None
    store = _codes(sid, store_index)
    if store is None:
        return None
    sku_names, code = _encode(sku)
    key = store * max(1, len(sku_names)) + code
    if len(np.unique(key)) != len(key):
        return None  # a duplicate (store, sku): the row-level pass names it
    return InventoryTable(path, store, None, on_hand, safety, sku_names, code)


def arrow_orders(tbl, path: str, store_index: dict[str, int]) -> OrdersTable | None:
    """A valid orders pyarrow table of the plain columns (order_id, lat, lon, sku, qty,
    promise_min, city), or None (see above)."""
    import pyarrow.compute as pc

    names = set(tbl.column_names)
    if not {"order_id", "lat", "lon", "sku", "qty"} <= names or names - {"order_id", "lat", "lon", "sku", "qty",
                                                                          "promise_min", "city"}:
        return None
    n = tbl.num_rows
    oid, sku = _arrow_str(tbl.column("order_id")), _arrow_str(tbl.column("sku"))
    lat = _arrow_float(tbl.column("lat"), -90.0, 90.0)
    lon = _arrow_float(tbl.column("lon"), -180.0, 180.0)
    qty = _arrow_int(tbl.column("qty"), 1)
    promise = (_arrow_float(tbl.column("promise_min"), 0.0, math.inf, lo_open=True) if "promise_min" in names
               else np.full(n, DEFAULT_PROMISE_MIN))
    city = _arrow_str(tbl.column("city")) if "city" in names else None
    if any(v is None for v in (oid, sku, lat, lon, qty, promise)) or ("city" in names and city is None):
        return None
    enc = _chunk(pc.dictionary_encode(oid))  # codes in order of first appearance
    order_of_row = enc.indices.to_numpy().astype(np.int64)
    n_orders = len(enc.dictionary)
    first = np.full(n_orders, n, np.int64)
    np.minimum.at(first, order_of_row, np.arange(n, dtype=np.int64))
    ref = first[order_of_row]
    city_o = np.asarray(city.to_pylist(), dtype=object) if city is not None else np.full(n, None, dtype=object)
    for arr in (lat, lon, promise, city_o):
        if (arr != arr[ref]).any():
            return None  # order-level columns differ between lines: the row-level pass names them
    none = np.full(n_orders, -1, np.int64)
    return OrdersTable(
        path=path, order_id=np.asarray(enc.dictionary.to_pylist(), dtype=object), order_of_row=order_of_row,
        row_of_order=first, lat=lat[first], lon=lon[first], promise_min=promise[first], city=city_o[first],
        mode=np.full(n_orders, "deliver", dtype=object), pickup_store=none, home_store=none.copy(),
        current_store=none.copy(), locked=np.zeros(n_orders, bool),
        sku=np.asarray(sku.to_pylist(), dtype=object), qty=qty, extra={})


# --- the plan (docs/file-formats.md, "The plan") ---------------------------------------------

PLAN_COLUMNS = ("order_id", "sku", "qty", "source_id", "mode", "via_id", "package", "eta_min", "promise_min",
                "on_time", "reason", "home_store")


def check_plan_path(path) -> None:
    """An InputError unless the plan can be written to ``path`` (by its extension)."""
    if file_format(path) not in ("csv", "parquet", "jsonl", "json"):
        raise InputError([Problem(str(path), None, None, None, "the plan is written as .csv, .parquet or .jsonl")])


def write_plan(path, rows: list[dict]) -> None:
    """Plan rows to ``path``: CSV, Parquet or JSON Lines by the extension, the columns of
    PLAN_COLUMNS in that order; a temporary file renamed into place (``atomic_write``)."""
    check_plan_path(path)
    fmt = file_format(path)
    cols = {k: [r.get(k) for r in rows] for k in PLAN_COLUMNS}
    if fmt == "csv":
        write_csv(path, {k: ["" if v is None else v for v in vals] for k, vals in cols.items()})
    elif fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError([Problem(str(path), None, None, None,
                                      "writing Parquet needs pyarrow: pip install 'omnifill[io]'")]) from None

        table = pa.table(cols)
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    else:

        def _w(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps({k: r.get(k) for k in PLAN_COLUMNS}) + "\n" for r in rows)

        atomic_write(path, _w)
