"""The file contracts (docs/file-formats.md): stores, inventory, orders and zones, each
loaded and checked column by column.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np
import shapely

from ..errors import InputError, Problem
from ..geo import ZONE_TIERS
from .columns import (
    bool_col,
    coords_of,
    enum_col,
    extra_columns,
    first_rows,
    float_col,
    index_lookup,
    int_col,
    is_missing,
    require_columns,
    str_col,
)
from .formats import DEFAULT_PROMISE_MIN, Problems, Table, read_table

STORE_KINDS = ("store", "warehouse")
ORDER_MODES = ("deliver", "pickup")
STORE_COLUMNS = ("store_id", "lat", "lon", "city", "kind", "handling_min", "capacity",
                 "delivers", "pickup", "transfers_out", "accept_rate")


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
    # the share of lines the store accepts, for the simulator (NaN: not given: bench's --accept)
    accept_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))
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
    if not require_columns(t, ("store_id", "lat", "lon"), probs):
        probs.raise_if_any()
    sid = str_col(t, "store_id", probs)
    first_rows(t, "store_id", sid, probs, "store id")
    lat, lon = coords_of(t, probs)
    st = StoresTable(
        path=t.path, store_id=sid, lat=lat, lon=lon,
        city=str_col(t, "city", probs, required=False, default="default"),
        kind=enum_col(t, "kind", probs, STORE_KINDS, default="store"),
        handling_min=float_col(t, "handling_min", probs, default=np.nan, lo=0, what="minutes"),
        capacity=float_col(t, "capacity", probs, default=np.inf, lo=0, what="a package count"),
        delivers=bool_col(t, "delivers", probs, default=True),
        pickup=bool_col(t, "pickup", probs, default=True),
        transfers_out=bool_col(t, "transfers_out", probs, default=True),
        accept_rate=float_col(t, "accept_rate", probs, default=np.nan, lo=0, hi=1, what="a share from 0 to 1"),
        extra=extra_columns(t, STORE_COLUMNS),
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
    if not require_columns(t, ("store_id", "sku", "on_hand"), probs):
        probs.raise_if_any()
    sid = str_col(t, "store_id", probs)
    store = index_lookup(t, "store_id", sid, store_index, probs, "store")
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
    if not require_columns(t, ("order_id", "lat", "lon", "sku", "qty"), probs):
        probs.raise_if_any()
    oid = str_col(t, "order_id", probs)
    lat, lon = coords_of(t, probs)
    sku = str_col(t, "sku", probs)
    qty = int_col(t, "qty", probs, lo=1, what="a whole quantity")
    promise = float_col(t, "promise_min", probs, default=DEFAULT_PROMISE_MIN, lo=0, lo_open=True, what="minutes")
    city = str_col(t, "city", probs, required=False)
    mode = enum_col(t, "mode", probs, ORDER_MODES, default="deliver")
    refs = {}
    for col in ("pickup_store", "home_store", "current_store"):
        refs[col] = index_lookup(t, col, str_col(t, col, probs, required=False), store_index, probs, "store")
    locked = bool_col(t, "locked", probs, default=False)
    no_pickup = np.array([is_missing(v) for v in t.columns.get("pickup_store", [None] * t.n_rows)], dtype=bool)
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
        extra=extra_columns(t, ORDER_COLUMNS),
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
