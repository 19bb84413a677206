"""The data model: Network (stores, inventory, zones, grid index), OrderBatch, Order,
Candidates, Coverage.

A Network holds the stores in the stores file's row order (``store_ids[i]`` is row i+1),
one local projection and one grid index per city, inventory as CSR (store x SKU), and the
zone index. Its queries are array in, array out, and safe to call from several threads at
once (grids are built once under a lock and never mutated). Loading and validation live in
io; the kernel lives in _core; this module wires them together and decides nothing about
who ships what.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from . import _core
from .config import Config
from .errors import InputError, Problem
from .geo import LocalProjection, ZoneIndex, tier_bits, zone_tier_bits
from .io import (
    DEFAULT_PROMISE_MIN,
    ORDER_MODES,
    InventoryTable,
    OrdersTable,
    Problems,
    StoresTable,
    ZoneFeature,
    file_format,
    load_inventory,
    load_inventory_table,
    load_orders,
    load_orders_table,
    load_stores,
    load_stores_table,
    load_zones,
    read_json_objects,
    table_of,
    zones_from_triples,
)
from .travel import model_of

# Cells of a city's grid are this fraction of the chord radius of the GRID_TIER_MIN promise
# (with the fastest handling): measured on the 10,000-store benchmark city (benchmarks/
# README.md), a third of the radius scans 1.44 stores per hit with few enough rows that the
# per-row set-up stays small. Longer promises scan more rows of the same grid.
CELL_FRACTION = 1.0 / 3.0
GRID_TIER_MIN = 30.0
# Below this many orders per thread, splitting a batch costs more than it saves.
MIN_ORDERS_PER_WORKER = 4096


@dataclass(frozen=True)
class Candidates:
    """Per order, the stores that reach it in time: CSR, sorted by ETA then store index.

    ``store_index`` are positions in ``Network.store_ids``; ``eta_min`` the direct ETA.
    """

    indptr: np.ndarray  # int64, n_orders + 1
    store_index: np.ndarray  # int32
    eta_min: np.ndarray  # float64

    def __len__(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.indptr[i], self.indptr[i + 1]
        return self.store_index[a:b], self.eta_min[a:b]


@dataclass(frozen=True)
class Coverage:
    """Per (order, candidate) bitmask of the order's lines that the store can fill alone.

    Line j is bit j % 64 of word j // 64; an order of L lines uses ``words[i]`` =
    max(1, ceil(L / 64)) uint64 words per candidate, so orders of any length are exact.
    ``full[i]``: some candidate fills every line of order i.
    """

    candidates: Candidates
    masks: np.ndarray  # uint64
    word_start: np.ndarray  # int64, n_orders + 1
    words: np.ndarray  # int32, n_orders
    full: np.ndarray  # bool, n_orders

    def mask(self, i: int, k: int) -> int:
        """The mask of order i's k-th candidate as a Python int (bit j = line j)."""
        w = int(self.words[i])
        a = int(self.word_start[i]) + k * w
        return sum(int(self.masks[a + j]) << (64 * j) for j in range(w))

    def first_words(self) -> np.ndarray:
        """Per (order, candidate) pair, the first mask word (lines 0-63), aligned with candidates."""
        ci = self.candidates.indptr
        order = np.repeat(np.arange(len(ci) - 1), np.diff(ci))
        pos = self.word_start[order] + (np.arange(ci[-1]) - ci[order]) * self.words[order]
        return self.masks[pos]


@dataclass(frozen=True)
class Inventory:
    """Stock as CSR by store: ``sku_code`` ascending within each store's slice.

    available = max(0, on_hand - safety_stock). ``skus[code]`` is the SKU's name.
    """

    skus: np.ndarray  # object str, sorted
    indptr: np.ndarray  # int64, n_stores + 1
    sku_code: np.ndarray  # int32
    on_hand: np.ndarray  # int64
    safety_stock: np.ndarray  # int64

    @property
    def available(self) -> np.ndarray:
        return np.maximum(self.on_hand - self.safety_stock, 0)

    @classmethod
    def from_table(cls, inv: InventoryTable, n_stores: int) -> Inventory:
        if inv.sku_code is not None and inv.sku_names is not None:  # coded already (io.arrow_inventory)
            skus, code = inv.sku_names, inv.sku_code
        else:
            assert inv.sku is not None
            skus, code = np.unique(inv.sku.astype(str), return_inverse=True)
        order = np.lexsort((code, inv.store))
        indptr = np.zeros(n_stores + 1, dtype=np.int64)
        np.cumsum(np.bincount(inv.store, minlength=n_stores), out=indptr[1:])
        return cls(skus.astype(object), indptr, code[order].astype(np.int32),
                   inv.on_hand[order].astype(np.int64), inv.safety_stock[order].astype(np.int64))

    @classmethod
    def empty(cls, n_stores: int) -> Inventory:
        z = np.zeros(0, np.int64)
        return cls(np.zeros(0, object), np.zeros(n_stores + 1, np.int64), np.zeros(0, np.int32), z, z)

    def sku_index(self) -> tuple:
        """``_core.sku_major`` of these rows, built once per Inventory and shared by every
        option search over it (a Router, a planner's Routers). ``Router.network_now`` hands
        it on to the Inventory of the stock left, whose rows are the same."""
        idx = self.__dict__.get("_sku_index")
        if idx is None:  # the dataclass is frozen: cached in its __dict__
            idx = self.share_sku_index(_core.sku_major(self.indptr, self.sku_code))
        return idx

    def share_sku_index(self, index: tuple) -> tuple:
        """Take ``index`` (``sku_major`` of rows equal to these) as this Inventory's, rather
        than sorting the rows again."""
        self.__dict__["_sku_index"] = index
        return index

    def codes(self, skus) -> np.ndarray:
        """SKU names to codes; -1 for a SKU that no store stocks."""
        skus = np.asarray(skus, dtype=object).astype(str)
        if self.skus.size == 0:
            return np.full(skus.shape, -1, np.int32)
        names = self.__dict__.get("_names")
        if names is None:  # the sorted names as a str array, once (the dataclass is frozen)
            names = self.skus.astype(str)
            object.__setattr__(self, "_names", names)
        pos = np.searchsorted(names, skus)
        pos_c = np.minimum(pos, names.size - 1)
        return np.where(names[pos_c] == skus, pos_c, -1).astype(np.int32)

    def available_of(self, store: int, sku_code: int) -> int:
        a, b = self.indptr[store], self.indptr[store + 1]
        k = a + np.searchsorted(self.sku_code[a:b], sku_code)
        if k < b and self.sku_code[k] == sku_code:
            return int(max(0, self.on_hand[k] - self.safety_stock[k]))
        return 0


@dataclass(frozen=True)
class OrderBatch:
    """Orders, columnar: one entry per order, lines as CSR (``line_indptr``) in file order."""

    order_id: np.ndarray  # object str
    lat: np.ndarray
    lon: np.ndarray
    promise_min: np.ndarray
    city: np.ndarray  # object: a city name, or None for the nearest store's city
    mode: np.ndarray  # object: deliver | pickup
    pickup_store: np.ndarray  # int64 store index, -1 none
    home_store: np.ndarray
    current_store: np.ndarray
    locked: np.ndarray  # bool
    line_indptr: np.ndarray  # int64
    line_sku: np.ndarray  # object str
    line_qty: np.ndarray  # int64
    line_row: np.ndarray  # int64: the line's 1-based row in the source file
    source: str = "<orders>"  # the file (or table) the orders came from, for errors

    def __len__(self) -> int:
        return self.order_id.shape[0]

    @property
    def n_lines(self) -> int:
        return int(self.line_indptr[-1])

    @classmethod
    def from_table(cls, t: OrdersTable) -> OrderBatch:
        rows = np.argsort(t.order_of_row, kind="stable")  # an order's lines together, file order within
        indptr = np.zeros(len(t.order_id) + 1, dtype=np.int64)
        np.cumsum(np.bincount(t.order_of_row, minlength=len(t.order_id)), out=indptr[1:])
        return cls(t.order_id, t.lat, t.lon, t.promise_min, t.city, t.mode, t.pickup_store,
                   t.home_store, t.current_store, t.locked, indptr, t.sku[rows], t.qty[rows], rows + 1,
                   str(t.path))

    @classmethod
    def from_file(cls, path, network: Network | None = None) -> OrderBatch:
        """Load and validate an orders file (CSV, Parquet, JSON Lines) against a network."""
        return cls.from_table(load_orders(path, network.store_index_map() if network else None))

    @classmethod
    def from_tables(cls, orders, network: Network | None = None) -> OrderBatch:
        """From an in-memory orders table (mapping of columns, DataFrame or pyarrow Table)."""
        probs = Problems()
        t = load_orders_table(table_of(orders, "<orders>"), network.store_index_map() if network else None, probs)
        probs.raise_if_any()
        return cls.from_table(t)


# The largest quantity of a line: what a float64 holds exactly (the files' columns are read
# as floats), so that sums of quantities never overflow the kernel's int64 counts.
MAX_QTY = 2**53

ORDER_FIELDS = ("order_id", "lat", "lon", "promise_min", "lines", "mode", "pickup_store", "home_store", "city")


@dataclass(frozen=True)
class Order:
    """One order as the router takes it: the JSON order format, validated on construction.

    ``lines`` is a tuple of (sku, qty). Store references are store ids (checked against the
    network by the router). Build one from a dict with ``Order.from_dict``.
    """

    order_id: str
    lat: float
    lon: float
    lines: tuple[tuple[str, int], ...]
    promise_min: float = DEFAULT_PROMISE_MIN
    mode: str = "deliver"
    pickup_store: str | None = None
    home_store: str | None = None
    city: str | None = None

    def __post_init__(self):
        try:
            object.__setattr__(self, "lines", tuple((ln[0], ln[1]) for ln in self.lines))
        except (TypeError, IndexError, KeyError):
            raise InputError([Problem("<order>", None, "lines", self.lines, "must be (sku, qty) pairs")]) from None
        probs = _order_problems(self, "<order>", None, None)
        if probs:
            raise InputError(probs)

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "<order>", row: int | None = None,
                  line: int | None = None) -> Order:
        """From the JSON order format ``{"order_id", "lat", "lon", "promise_min", "lines":
        [{"sku", "qty"}], "mode", "pickup_store", "home_store", "city"}``; every problem is
        named by ``source``, ``row``, ``line`` and field."""
        def bad(col, val, msg):
            return InputError([Problem(source, row, col, val, msg, line)])

        if not isinstance(d, dict):
            raise bad(None, d, "an order must be a JSON object")
        unknown = [k for k in d if k not in ORDER_FIELDS]
        if unknown:
            raise bad(unknown[0], d[unknown[0]], f"unknown field; the order fields are {', '.join(ORDER_FIELDS)}")
        for k in ("order_id", "lat", "lon", "lines"):
            if d.get(k) is None:
                raise bad(k, None, "is missing")
        raw = d["lines"]
        if not isinstance(raw, list) or not raw:
            raise bad("lines", raw, "must be a non-empty list of {sku, qty}")
        lines = []
        for j, item in enumerate(raw):
            if not isinstance(item, dict) or set(item) - {"sku", "qty"} or "sku" not in item or "qty" not in item:
                raise bad(f"lines[{j}]", item, "each line must be an object with exactly sku and qty")
            sku, qty = item["sku"], item["qty"]
            if not isinstance(sku, (str, int)) or isinstance(sku, bool) or str(sku) == "":
                raise bad(f"lines[{j}].sku", sku, "must be a non-empty string")
            # (NaN and infinities are floats that are no whole number: refused here, not
            # by an int() that raises)
            if (isinstance(qty, bool) or not isinstance(qty, (int, float))
                    or (isinstance(qty, float) and not (math.isfinite(qty) and qty.is_integer()))
                    or not 1 <= qty <= MAX_QTY):
                raise bad(f"lines[{j}].qty", qty, f"must be a whole quantity from 1 to {MAX_QTY:,}")
            lines.append((str(sku), int(qty)))
        kw = {}
        for k in ("promise_min", "mode", "pickup_store", "home_store", "city"):
            if d.get(k) is not None:
                kw[k] = d[k]
        for k in ("lat", "lon", "promise_min"):
            v = d.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise bad(k, v, "must be a number")
        try:
            o = object.__new__(cls)
            vals = {"order_id": d["order_id"], "lat": float(d["lat"]), "lon": float(d["lon"]), "lines": tuple(lines),
                    "promise_min": float(kw.get("promise_min", DEFAULT_PROMISE_MIN)),
                    "mode": kw.get("mode", "deliver"), "pickup_store": _opt_str(kw.get("pickup_store")),
                    "home_store": _opt_str(kw.get("home_store")), "city": _opt_str(kw.get("city"))}
            for k, v in vals.items():
                object.__setattr__(o, k, v)
        except (TypeError, ValueError) as e:
            raise bad(None, None, str(e)) from None
        probs = _order_problems(o, source, row, line)
        if probs:
            raise InputError(probs)
        return o

    def to_dict(self) -> dict:
        d = {"order_id": self.order_id, "lat": self.lat, "lon": self.lon, "promise_min": self.promise_min,
             "lines": [{"sku": s, "qty": q} for s, q in self.lines], "mode": self.mode}
        for k in ("pickup_store", "home_store", "city"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    @classmethod
    def from_batch(cls, batch: OrderBatch, i: int, store_ids) -> Order:
        """Order i of a loaded batch (its store references turned back into ids)."""
        a, b = batch.line_indptr[i], batch.line_indptr[i + 1]
        ref = (lambda k: None if k < 0 else str(store_ids[k]))
        o = object.__new__(cls)
        for k, v in {"order_id": str(batch.order_id[i]), "lat": float(batch.lat[i]), "lon": float(batch.lon[i]),
                     "lines": tuple((str(s), int(q)) for s, q in zip(batch.line_sku[a:b], batch.line_qty[a:b])),
                     "promise_min": float(batch.promise_min[i]), "mode": str(batch.mode[i]),
                     "pickup_store": ref(int(batch.pickup_store[i])), "home_store": ref(int(batch.home_store[i])),
                     "city": batch.city[i]}.items():
            object.__setattr__(o, k, v)
        return o


def read_orders(path, network: Network, *, max_errors: int = 100) -> list[Order]:
    """The orders of a file as ``Order`` objects, in file order: JSON Lines in the router's
    order format (one order per line), or the orders CSV / Parquet (one row per line).
    Store references and cities are checked against ``network``; every problem names the
    file, the row (and line) and the field, and one InputError lists them all."""
    probs = Problems(max_errors)
    path = str(path)
    if file_format(path) not in ("jsonl", "json"):
        batch = OrderBatch.from_table(load_orders(path, network.store_index_map(), probs=probs))
        probs.raise_if_any()
        out = [Order.from_batch(batch, i, network.store_ids) for i in range(len(batch))]
    else:
        out = []
        known = network.store_index_map()
        for row, lineno, obj in read_json_objects(path, probs):
            o = order_of_json(obj, path, row, lineno, network, known, probs)
            if o is not None:
                out.append(o)
    probs.raise_if_any()
    return out


def order_of_json(obj: dict, path: str, row: int, lineno: int, network: Network, known: dict[str, int],
                  probs: Problems) -> Order | None:
    """One JSON Lines order, checked against ``network`` (``known``: its store index map):
    the Order, or None with its problems added to ``probs`` (named by file, row and line)."""
    try:
        o = Order.from_dict(obj, source=path, row=row, line=lineno)
    except InputError as e:
        probs.extend(e.problems)
        return None
    for col in ("pickup_store", "home_store"):
        v = getattr(o, col)
        if v is not None and v not in known:
            probs.add(Problem(path, row, col, v, "unknown store (not in the stores file)", lineno))
    if o.city is not None and o.city not in network.cities:
        probs.add(Problem(path, row, "city", o.city, "no stores in this city", lineno))
    return o


def _opt_str(v):
    return None if v is None else str(v)


def _order_problems(o: Order, source, row, line) -> list[Problem]:
    out = []

    def bad(col, val, msg):
        out.append(Problem(source, row, col, val, msg, line))

    if not isinstance(o.order_id, (str, int)) or isinstance(o.order_id, bool) or str(o.order_id) == "":
        bad("order_id", o.order_id, "must be a non-empty string")
    else:
        object.__setattr__(o, "order_id", str(o.order_id))
    if not (isinstance(o.lat, (int, float)) and abs(o.lat) <= 90.0):
        bad("lat", o.lat, "must be a latitude in [-90, 90]")
    if not (isinstance(o.lon, (int, float)) and abs(o.lon) <= 180.0):
        bad("lon", o.lon, "must be a longitude in [-180, 180]")
    if not (isinstance(o.promise_min, (int, float)) and math.isfinite(o.promise_min) and o.promise_min > 0):
        bad("promise_min", o.promise_min, "must be a number of minutes > 0")
    if o.mode not in ORDER_MODES:
        bad("mode", o.mode, f"must be one of {', '.join(ORDER_MODES)}")
    elif o.mode == "pickup" and o.pickup_store is None:
        bad("pickup_store", None, "is missing; a pickup order must name its pickup store")
    if not o.lines:
        bad("lines", o.lines, "an order needs at least one line")
    for k, ln in enumerate(o.lines):
        if not (isinstance(ln, tuple) and len(ln) == 2 and isinstance(ln[0], str) and ln[0]
                and isinstance(ln[1], int) and not isinstance(ln[1], bool) and ln[1] >= 1):
            bad(f"lines[{k}]", ln, "must be (sku, qty) with a non-empty sku and a whole qty >= 1")
    return out


class Network:
    """A chain's stores, stock and zones, with a grid index per city for candidate search."""

    def __init__(self, stores: StoresTable, inventory: Inventory, zones: list[ZoneFeature] | None = None,
                 config: Config | None = None):
        self.config = config or Config()
        # every travel time asked in Python comes from it (by road, it reads the graph and
        # checks the stores against it: an input error names the stores file's row)
        self.travel = model_of(self.config.travel, stores)
        self._stores = stores
        self.store_ids = np.asarray(stores.store_id, dtype=object)
        self.lat = np.asarray(stores.lat, dtype=np.float64)
        self.lon = np.asarray(stores.lon, dtype=np.float64)
        self.city = np.asarray(stores.city, dtype=object)
        self.kind = np.asarray(stores.kind, dtype=object)
        h = np.asarray(stores.handling_min, dtype=np.float64)
        self.handling_min = np.where(np.isnan(h), self.config.travel.handling_min, h)
        self.capacity = np.asarray(stores.capacity, dtype=np.float64)
        self.delivers = np.asarray(stores.delivers, dtype=bool)
        self.pickup = np.asarray(stores.pickup, dtype=bool)
        self.transfers_out = np.asarray(stores.transfers_out, dtype=bool)
        self.inventory = inventory
        self.cities = tuple(dict.fromkeys(self.city.tolist()))
        self._city_code = {c: k for k, c in enumerate(self.cities)}
        self.city_code = np.array([self._city_code[c] for c in self.city], dtype=np.int32)
        self.projections = {c: LocalProjection.around(self.lat[self.city == c], self.lon[self.city == c])
                            for c in self.cities}
        self.zones = ZoneIndex()
        for z in zones or ():
            self.zones.set_zone(z.store, z.tier, z.geometry)
        self._index = {s: i for i, s in enumerate(self.store_ids)}
        self._grids: dict[tuple[str, str], _core.GridIndex] = {}  # per (city, role), built on first use
        self._density: dict[str, float] = {}  # candidates per order the city's last query saw
        self._lock = threading.Lock()
        self._nearest: cKDTree | None = None

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_files(cls, stores, inventory=None, zones=None, config=None, *, max_errors: int = 100) -> Network:
        """Load and validate the files; raise one InputError listing every problem found."""
        cfg = config if isinstance(config, Config) or config is None else Config.from_toml(config)
        probs = Problems(max_errors)
        st = load_stores(stores, probs=probs)
        probs.raise_if_any()
        idx = st.index()
        inv = load_inventory(inventory, idx, probs=probs) if inventory is not None else None
        zs = load_zones(zones, idx, probs=probs) if zones is not None else None
        probs.raise_if_any()
        return cls.from_loaded(st, inv, zs, cfg)

    @classmethod
    def from_loaded(cls, st: StoresTable, inv: InventoryTable | None, zones, cfg) -> Network:
        """From tables the ``io`` loaders already read and checked (stores, inventory or
        None, zones or None, a Config or None): nothing is read again."""
        n = len(st.store_id)
        return cls(st, Inventory.from_table(inv, n) if inv is not None else Inventory.empty(n), zones, cfg)

    @classmethod
    def from_tables(cls, stores, inventory=None, zones=None, config=None, *, max_errors: int = 100) -> Network:
        """Build from in-memory tables: each a mapping of column name to values, a pandas
        DataFrame or a pyarrow Table, with the columns of the files. ``zones``: a GeoJSON path
        or (store_id, promise_min, shapely geometry) triples. Validated like the files, with
        ``<stores>`` and ``<inventory>`` standing for the file names in errors."""
        cfg = config if isinstance(config, Config) or config is None else Config.from_toml(config)
        probs = Problems(max_errors)
        st = load_stores_table(table_of(stores, "<stores>"), probs)
        probs.raise_if_any()
        idx = st.index()
        inv_t = load_inventory_table(table_of(inventory, "<inventory>"), idx, probs) if inventory is not None else None
        if zones is None or isinstance(zones, (str, os.PathLike)):
            zs = load_zones(zones, idx, probs=probs) if zones is not None else None
        else:
            zs = zones_from_triples(zones, idx, probs)
        probs.raise_if_any()
        return cls.from_loaded(st, inv_t, zs, cfg)

    @classmethod
    def from_arrays(cls, store_id, lat, lon, *, city=None, kind=None, handling_min=None, capacity=None,
                    delivers=None, pickup=None, transfers_out=None, inventory=None, zones=None,
                    config=None) -> Network:
        """Build from arrays, one per stores column (scalars broadcast); ``inventory`` and
        ``zones`` as for ``from_tables``."""
        n = len(store_id)
        cols = {"store_id": list(store_id), "lat": list(lat), "lon": list(lon)}
        for name, v in (("city", city), ("kind", kind), ("handling_min", handling_min), ("capacity", capacity),
                        ("delivers", delivers), ("pickup", pickup), ("transfers_out", transfers_out)):
            if v is not None:
                cols[name] = list(np.broadcast_to(np.asarray(v, dtype=object), (n,)))
        return cls.from_tables(cols, inventory, zones, config)

    # --- look-ups ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.store_ids.shape[0]

    def with_stock(self, inventory: Inventory, capacity=None) -> Network:
        """This network with other stock (and capacity): the same stores, zones and grids,
        shared, not rebuilt (grids do not depend on stock). For planning against the stock a
        simulated day has left (``Router.network_now``)."""
        other = copy.copy(self)
        other.inventory = inventory
        if capacity is not None:
            other.capacity = np.broadcast_to(np.asarray(capacity, np.float64), self.capacity.shape).copy()
        return other

    def at_hour(self, hour: float) -> Network:
        """This network with its travel model at another hour of the day (road times by the
        hour: ``[travel] provider = "road"`` with hourly edge minutes); itself when the
        model's times do not change by the hour. Stores, stock, zones and grids are shared."""
        at = getattr(self.travel, "at_hour", None)
        model = at(hour) if at is not None else self.travel
        if model is self.travel:
            return self
        other = copy.copy(self)
        other.travel = model
        return other

    def store_index_map(self) -> dict[str, int]:
        return dict(self._index)

    def index_of(self, store_id) -> int:
        try:
            return self._index[str(store_id)]
        except KeyError:
            raise KeyError(f"unknown store_id {store_id!r}") from None

    @property
    def eligible(self) -> np.ndarray:
        """Stores that can be a direct-delivery candidate: kind store and delivers."""
        return (self.kind == "store") & self.delivers

    def order_cities(self, lat, lon, city=None) -> np.ndarray:
        """Each order's city code: the given city, else the city of the nearest store."""
        lat = np.asarray(lat, np.float64)
        n = lat.shape[0]
        if len(self.cities) == 1:
            out = np.zeros(n, np.int32)
        else:
            if self._nearest is None:
                self._nearest = cKDTree(_core.unit_vectors(self.lat, self.lon))
            _, j = self._nearest.query(_core.unit_vectors(lat, lon))
            out = self.city_code[np.asarray(j, dtype=np.int64)].astype(np.int32)
        if city is not None:
            city = np.broadcast_to(np.asarray(city, dtype=object), (n,))
            for i, c in enumerate(city):
                if c is not None:
                    if c not in self._city_code:
                        raise ValueError(f"order {i}: city {c!r} has no stores in this network")
                    out[i] = self._city_code[c]
        return out

    def set_zone(self, store_id, promise_min: int, geometry) -> None:
        """Give a store a delivery zone for a tier (replacing any); no rebuild of anything else."""
        i = self.index_of(store_id)
        self.zones.set_zone(i, int(promise_min), geometry)
        self._update_zone_bits(i)

    def remove_zone(self, store_id, promise_min: int) -> bool:
        """Take a store's zone for a tier away (the radius rule applies again); no rebuild."""
        i = self.index_of(store_id)
        removed = self.zones.remove_zone(i, int(promise_min))
        self._update_zone_bits(i)
        return removed

    def _update_zone_bits(self, i: int) -> None:
        bits = self.zones.bits_of(i)
        with self._lock:
            for (_, role), g in self._grids.items():
                if role == "deliver":
                    g.set_zone_bits(i, bits)

    # --- candidate search ----------------------------------------------------------------------
    def grid(self, city: str) -> _core.GridIndex:
        """The city's grid over its eligible stores; cells a third of the 30-minute radius."""
        return self._grid(city, "deliver")

    def transfer_grid(self, city: str) -> _core.GridIndex:
        """The city's grid over the stores that may send transfers (kind store, transfers_out)."""
        return self._grid(city, "transfer")

    def warehouses(self, city: str) -> np.ndarray:
        """The city's warehouses that ship parcels (kind warehouse, delivers), by store index."""
        return np.flatnonzero((self.kind == "warehouse") & self.delivers & (self.city == city)).astype(np.int32)

    def _grid(self, city: str, role: str) -> _core.GridIndex:
        g = self._grids.get((city, role))
        if g is None:
            with self._lock:
                g = self._grids.get((city, role))
                if g is None:
                    reach = float(self.travel.reach_m(max(GRID_TIER_MIN - float(self.handling_min.min()), 1.0)))
                    who = self.eligible if role == "deliver" else (self.kind == "store") & self.transfers_out
                    sel = np.flatnonzero(who & (self.city == city))
                    zb = self.zones.store_bits(len(self)) if role == "deliver" else np.zeros(len(self), np.uint8)
                    g = _core.GridIndex(self.lat[sel], self.lon[sel], self.handling_min[sel], sel, zb[sel],
                                        len(self), self.lat, self.lon, self.handling_min,
                                        _core.chord_radius(reach) * CELL_FRACTION)
                    self._grids[(city, role)] = g
        return g

    def candidates_one(self, lat: float, lon: float, max_eta_min: float, max_candidates: int | None = None,
                       *, city: str | None = None, promise_min: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One order's candidates, (store_index, eta_min), by ETA then store index: the same
        answer as ``candidates`` for a batch of one, on the order service's short path."""
        k = -1 if max_candidates is None else int(max_candidates)
        if max_candidates is not None and k < 0:
            raise ValueError("max_candidates must be >= 0")
        lat, lon, me = float(lat), float(lon), float(max_eta_min)
        if not (abs(lat) <= 90.0 and abs(lon) <= 180.0):
            raise ValueError(f"({lat!r}, {lon!r}) is not a valid coordinate")
        if len(self.zones) or (len(self.cities) > 1):
            c = self.candidates([lat], [lon], me, max_candidates, city=None if city is None else [city],
                                promise_min=promise_min)
            return c.store_index, c.eta_min
        if city is not None and city not in self._city_code:
            raise ValueError(f"city {city!r} has no stores in this network")
        return self.grid(self.cities[0]).query_one(lat, lon, me, travel=self.travel.kernel, max_candidates=k)

    def candidates(self, lat, lon, max_eta_min, max_candidates: int | None = None, *, city=None,
                   workers: int = 1, promise_min=None) -> Candidates:
        """For every order, the eligible stores of its city whose direct ETA fits its limit.

        lat, lon: order coordinates (arrays, WGS84 degrees). max_eta_min: a scalar or one limit
        per order. promise_min: the orders' promises, which give their zone tier (default:
        max_eta_min itself; the router and planner search the delivery area, a wider limit,
        and pass the promise apart). A store with a zone for the order's tier (30 minutes for
        a promise up to 30, else 60) is a candidate only where that zone holds the order,
        whatever its ETA, and not by the radius rule; for a 30-minute order a store whose
        60-minute zone holds it is a candidate too (it may deliver late as a 60-minute store).
        max_candidates keeps the nearest K by ETA. city: per order (None: nearest store's).
        workers: threads for a large batch (-1: one per core); the kernel releases the GIL, so
        several threads may also call this at once. The result does not depend on workers.
        """
        if workers == -1:
            workers = os.cpu_count() or 1
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer or -1, got {workers!r}")
        lat = np.ascontiguousarray(lat, dtype=np.float64).reshape(-1)
        lon = np.ascontiguousarray(lon, dtype=np.float64).reshape(-1)
        n = lat.shape[0]
        if lon.shape[0] != n:
            raise ValueError(f"lat has {n} values, lon has {lon.shape[0]}")
        for name, a, lim in (("lat", lat, 90.0), ("lon", lon, 180.0)):
            if not (np.abs(a) <= lim).all():  # NaN fails the comparison too
                i = int(np.flatnonzero(~(np.abs(a) <= lim))[0])
                raise ValueError(f"{name}[{i}] = {a[i]!r} is not a valid coordinate")
        if np.ndim(max_eta_min) == 0:
            if np.isnan(max_eta_min):
                raise ValueError("max_eta_min is NaN")
            me = np.full(n, float(max_eta_min))
        else:
            me = np.ascontiguousarray(np.broadcast_to(np.asarray(max_eta_min, dtype=np.float64), (n,)))
            if np.isnan(me).any():
                raise ValueError("max_eta_min contains NaN")
        k = -1 if max_candidates is None else int(max_candidates)
        if max_candidates is not None and k < 0:
            raise ValueError("max_candidates must be >= 0")
        if n == 0:
            return Candidates(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64))
        # each order's city, once: the zone filter and the per-city split both use it
        codes = None if (len(self.cities) == 1 and city is None) else self.order_cities(lat, lon, city)
        if len(self.zones):
            if promise_min is None:
                promise = me
            else:
                promise = np.broadcast_to(np.asarray(promise_min, dtype=np.float64), (n,))
                if np.isnan(promise).any():
                    raise ValueError("promise_min contains NaN")
            tb = tier_bits(promise)
            zi, zs = self._zone_csr(lat, lon, zone_tier_bits(promise), n, codes)
        else:
            tb = zi = zs = None
        kw = dict(travel=self.travel.kernel, max_candidates=k)
        if codes is None:
            ip, si, eta = self._query(self.cities[0], lat, lon, me, tb, zi, zs, kw, workers)
            return Candidates(ip, si, eta)
        if tb is None:
            tb = np.zeros(n, np.uint8)
        # several cities: query each city's grid with its orders, then stitch the CSR back
        counts = np.zeros(n, np.int64)
        parts = {}
        for c in np.unique(codes):
            sel = np.flatnonzero(codes == c)
            zsel_i, zsel_s = _sub_csr(zi, zs, sel)
            r = self._query(self.cities[c], lat[sel], lon[sel], me[sel], tb[sel], zsel_i, zsel_s, kw, workers)
            parts[c] = (sel, r)
            counts[sel] = np.diff(r[0])
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        si = np.empty(indptr[-1], np.int32)
        eta = np.empty(indptr[-1], np.float64)
        for sel, (ip, s, e) in parts.values():
            dst = _csr_positions(indptr[sel], np.diff(ip))
            si[dst] = s
            eta[dst] = e
        return Candidates(indptr, si, eta)

    def _query(self, city, lat, lon, me, tb, zi, zs, kw, workers=1):
        # the output is first reserved for the density the last query of this grid saw
        g = self.grid(city)
        n = lat.shape[0]
        dens = self._density.get(city, 16.0)
        parts = min(workers, max(1, n // MIN_ORDERS_PER_WORKER))

        def run(a, b):
            return g.query(lat, lon, me, tier_bits=tb, zone_indptr=zi, zone_store=zs,
                           expected_per_order=dens, start=a, stop=b, **kw)

        if parts == 1:
            r = run(0, n)
        else:
            # contiguous slices of the orders on threads (the kernel releases the GIL), then
            # one output filled by the same threads (numpy copies release the GIL too)
            bounds = np.linspace(0, n, parts + 1).astype(np.int64)
            with ThreadPoolExecutor(parts) as pool:
                chunks = list(pool.map(run, bounds[:-1], bounds[1:]))
                sizes = np.array([c[0][-1] for c in chunks], dtype=np.int64)
                offs = np.concatenate([[0], np.cumsum(sizes)])
                indptr = np.empty(n + 1, np.int64)
                idx = np.empty(int(offs[-1]), np.int32)
                eta = np.empty(int(offs[-1]), np.float64)
                indptr[0] = 0

                def fill(j):
                    ip, si, e = chunks[j]
                    a, b = bounds[j], bounds[j + 1]
                    np.add(ip[1:], offs[j], out=indptr[a + 1:b + 1])
                    idx[offs[j]:offs[j + 1]] = si
                    eta[offs[j]:offs[j + 1]] = e

                list(pool.map(fill, range(parts)))
            r = (indptr, idx, eta)
        if n:
            self._density[city] = 1.1 * r[0][-1] / n + 1.0
        return r

    def _zone_csr(self, lat, lon, tb, n, codes):
        # per order, the eligible stores of its city with a zone of its tiers (tb, bits)
        # containing it
        o, s = self.zones.containing(lat, lon, tb)
        ok = self.eligible[s]
        o, s = o[ok], s[ok]
        if codes is not None:
            same = self.city_code[s] == codes[o]
            o, s = o[same], s[same]
        zi = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(o, minlength=n), out=zi[1:])
        return zi, s.astype(np.int32)

    def delivery_area(self, store, lat, lon, promise_min, city=None) -> tuple[np.ndarray, np.ndarray]:
        """For (store, customer) pairs (arrays, or scalars broadcast): the store's direct ETA
        (handling plus the courier leg) and whether the customer lies in the store's delivery
        area for that promise, by the rule ``candidates`` applies (kind store, delivers, of
        the customer's city, and a zone of the order's tiers holding it or, where the store
        has no zone for the order's tier, the ETA within max(promise, max_courier_min)). For
        checking a single assignment (an order's ``current_store``), not for search. city: per
        customer, its city name (None: the nearest store's)."""
        store = np.atleast_1d(np.asarray(store, np.int64))
        n = store.shape[0]
        lat = np.broadcast_to(np.asarray(lat, np.float64), (n,))
        lon = np.broadcast_to(np.asarray(lon, np.float64), (n,))
        promise = np.broadcast_to(np.asarray(promise_min, np.float64), (n,))
        lim = self.config.limits
        eta = self.travel.direct_eta(self.handling_min[store], self.lat[store], self.lon[store], lat, lon)
        reach = np.maximum(promise, lim.max_courier_min)
        zoned = (self.zones.store_bits(len(self))[store] & tier_bits(promise)) != 0
        ok = ~zoned & (eta <= reach + _core.ETA_TOLERANCE_MIN)
        if len(self.zones):
            o, s = self.zones.containing(lat, lon, zone_tier_bits(promise))
            ok |= np.isin(np.arange(n) * len(self) + store, o * len(self) + s)
        return eta, ok & self.eligible[store] & (self.city_code[store] == self.order_cities(lat, lon, city))

    def coverage(self, candidates: Candidates, orders: OrderBatch) -> Coverage:
        """For each (order, candidate), the lines that store can fill alone; see Coverage."""
        if len(candidates) != len(orders):
            raise ValueError(f"{len(candidates)} candidate rows for {len(orders)} orders")
        inv = self.inventory
        masks, ws, words, full = _core.coverage(candidates.indptr, candidates.store_index, orders.line_indptr,
                                                inv.codes(orders.line_sku), orders.line_qty, inv.indptr,
                                                inv.sku_code, inv.available)
        return Coverage(candidates, masks, ws, words, full)


def _csr_positions(starts, counts):
    """Flat positions of consecutive runs: run j is starts[j] .. starts[j] + counts[j]."""
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0)


def _sub_csr(indptr, values, sel):
    """The CSR rows ``sel`` of (indptr, values), as a new CSR."""
    if indptr is None:
        return None, None
    counts = np.diff(indptr)[sel]
    ip = np.zeros(sel.shape[0] + 1, np.int64)
    np.cumsum(counts, out=ip[1:])
    return ip, values[_csr_positions(indptr[sel], counts)]


__all__ = ["Candidates", "Coverage", "Inventory", "Network", "Order", "OrderBatch"]
