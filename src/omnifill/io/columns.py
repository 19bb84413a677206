"""Typing the columns of a raw table: a vectorised fast path, and a per-value pass only to
name the bad rows.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import Problem
from .formats import FALSE_WORDS, TRUE_WORDS, Problems, Table, file_format


def is_missing(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def require_columns(t: Table, names, probs: Problems) -> bool:
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
            if is_missing(v):
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
                                "is NaN" if not is_missing(raw[i]) else f"is missing; expected {what}"))
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
    got = t.columns.get(name)
    raw = got if got is not None else [default] * t.n_rows
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
        if is_missing(v) or (isinstance(v, float) and math.isnan(v)):
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
        if is_missing(v):
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


def coords_of(t: Table, probs: Problems):
    lat = float_col(t, "lat", probs, lo=-90, hi=90, what="a latitude in degrees")
    lon = float_col(t, "lon", probs, lo=-180, hi=180, what="a longitude in degrees")
    return lat, lon


def extra_columns(t: Table, known) -> dict[str, list]:
    return {k: v for k, v in t.columns.items() if k not in known}


def index_lookup(t: Table, name: str, values: np.ndarray, index: dict[str, int] | None,
                  probs: Problems, what: str, source: str = "the stores file") -> np.ndarray:
    """Each value's position in ``index`` (-1: missing, or not there, a problem naming
    ``source``); all -1 when there is no index."""
    out = np.full(t.n_rows, -1, dtype=np.int64)
    if index is None:
        return out
    for i, v in enumerate(values):
        if v is None:
            continue
        j = index.get(v)
        if j is None:
            probs.add(t.problem(i, name, v, f"names a {what} that is not in {source}"))
        else:
            out[i] = j
    return out


def first_rows(t: Table, name: str, values: np.ndarray, probs: Problems, what: str) -> dict[str, int]:
    """Each id's first row index; every later row with the same id is a problem."""
    first: dict[str, int] = {}
    for i, v in enumerate(values):
        if v is None:
            continue
        if v in first:
            probs.add(t.problem(i, name, v, f"duplicate {what} (first at row {first[v] + 1})"))
        else:
            first[v] = i
    return first
