"""The road graph's file contract (docs/file-formats.md, "Road graphs"): a node table and an
edge table, CSV or Parquet, checked column by column like every other file.

    nodes: node_id, lat, lon
    edges: from_node, to_node, and minutes (one time) or minutes_h0 .. minutes_h23 (by hour)

An edge is directed (a two-way street is two rows). Every problem names the file, the row,
the column and the value: a duplicate node, a bad coordinate, an edge naming a node the
node table lacks, a time that is negative, NaN or infinite, half of the hourly columns.

This module never builds a graph and never searches one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import Problem
from .columns import coords_of, first_rows, float_col, index_lookup, require_columns, str_col
from .formats import Problems, Table, read_table, table_of

HOURS = 24
HOURLY_COLUMNS = tuple(f"minutes_h{h}" for h in range(HOURS))


@dataclass(frozen=True)
class RoadTables:
    """A checked node and edge table: node ids and places, edges as node positions with
    their minutes (one column, or one per hour of the day)."""

    node_id: np.ndarray  # object str, file order
    lat: np.ndarray
    lon: np.ndarray
    src: np.ndarray  # int64 position in node_id
    dst: np.ndarray
    minutes: np.ndarray  # float64 (n_edges, 1) or (n_edges, 24)
    nodes_file: str
    edges_file: str


def load_road_tables(nodes, edges, *, max_errors: int = 100) -> RoadTables:
    """Read and check a node and an edge table: paths (CSV, Parquet) or in-memory tables
    (a mapping of columns, a DataFrame, a pyarrow Table). Raises InputError listing every
    problem found (up to ``max_errors``)."""
    probs = Problems(max_errors)
    nt = _table(nodes, "<road nodes>")
    et = _table(edges, "<road edges>")
    ok_n = require_columns(nt, ("node_id", "lat", "lon"), probs)
    ok_e = require_columns(et, ("from_node", "to_node"), probs)
    if ok_e:
        hourly = [c for c in HOURLY_COLUMNS if c in et.columns]
        if "minutes" in et.columns and hourly:
            probs.add(Problem(et.path, None, hourly[0], None,
                              "give either 'minutes' or 'minutes_h0' .. 'minutes_h23', not both"))
            ok_e = False
        elif hourly and len(hourly) != HOURS:
            missing = [c for c in HOURLY_COLUMNS if c not in et.columns]
            probs.add(Problem(et.path, None, missing[0], None,
                              f"hourly times need all 24 columns minutes_h0 .. minutes_h23; "
                              f"{len(missing)} missing"))
            ok_e = False
        elif not hourly and "minutes" not in et.columns:
            probs.add(Problem(et.path, None, "minutes", None,
                              "required column is missing: 'minutes', or 'minutes_h0' .. 'minutes_h23' "
                              f"(columns found: {', '.join(et.columns)})"))
            ok_e = False
    if not (ok_n and ok_e):
        probs.raise_if_any()
    node_id = str_col(nt, "node_id", probs)
    lat, lon = coords_of(nt, probs)
    index = first_rows(nt, "node_id", node_id, probs, "node")
    src, dst = (index_lookup(et, c, str_col(et, c, probs), index, probs, "node", nt.path)
                for c in ("from_node", "to_node"))
    cols = ("minutes",) if "minutes" in et.columns else HOURLY_COLUMNS
    minutes = np.column_stack([float_col(et, c, probs, lo=0.0, what="a travel time in minutes") for c in cols])
    probs.raise_if_any()
    return RoadTables(node_id, lat, lon, src, dst, minutes, nt.path, et.path)


def _table(obj, name: str) -> Table:
    if isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__"):
        return read_table(obj)
    return table_of(obj, name)


__all__ = ["HOURLY_COLUMNS", "HOURS", "RoadTables", "load_road_tables"]
