"""Writing: never a partial file. Every output goes to a temporary file in its directory and
is renamed into place; files that belong together are renamed together. The plan writer.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..errors import InputError, Problem
from .formats import file_format


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
