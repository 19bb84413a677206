"""Arrow fast paths: a whole valid table checked and converted with vectorised kernels.
They answer None at the first thing that is not plainly valid; the caller then runs the
row-level loaders, which name every bad row. So the fast path never decides an error message.
"""

from __future__ import annotations

import math

import numpy as np

from .contracts import InventoryTable, OrdersTable
from .formats import DEFAULT_PROMISE_MIN


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
    if (oid is None or sku is None or lat is None or lon is None or qty is None or promise is None
            or ("city" in names and city is None)):
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
