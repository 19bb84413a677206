"""A city's day, simulated: orders arrive over time and are routed by a policy; what-if
variants of the network run on the same orders (``omnifill bench``).

Policies (``POLICIES``):

- ``online``: each order is routed by the Router when it arrives, and that is final.
- ``online+reroute``: routed on arrival and held; every ``reroute_every`` minutes the open
  orders (routed since the last re-plan) are re-planned together by the planner. An order
  that would be late if it started again now (its ETA above its promise less the minutes it
  has waited) is not re-planned: it keeps its decision. The others are released and planned
  with their current store and the promise they have left; moving one costs
  ``move_penalty`` plus ``per_minute`` times the longest wait in the batch (the planner has
  one move penalty; the longest wait keeps a move from costing more than it gains); one the
  plan keeps at its store keeps its ETA (its picking went on), one the plan moves waits: its
  ETA is the minutes since it arrived plus the new option's.
- ``hold``: orders are held and planned in batches every ``hold_min`` minutes (the orders
  that arrived in the window, planned at its end, with the promise they have left); each
  order's ETA is the minutes it waited plus its option's.
- ``hindsight``: no policy a day can run, the yardstick: the whole day planned as one
  backlog by the planner (``hindsight_limit_s``), every order known in advance, against the
  morning's stock, none waiting. The planner has one capacity per plan, so a store's is
  pooled over the day's clock hours (its capacity per hour times the hours): a relaxation,
  so a gap to it is an upper bound on the gap to the best hourly plan. The run keeps the
  plan's lower bound; with it in the policies, every run of the variant reports
  ``gap_to_hindsight`` (its cost over the plan's, less 1) and ``gap_to_hindsight_bound``.
- ``online+prices``: ``online`` with shadow prices (docs/lookahead.md): a forecast of the
  day's orders is drawn from its arrival profile, its SKU popularity and where its customers
  are (``lookahead.forecast_day``, ``forecast_scale`` times as many), never from its orders
  themselves; every ``reprice_every`` minutes the LP over the forecast orders still to come
  (against the stock left, each store's capacity left this hour plus its hourly capacity
  times the day's hours to come) prices the scarce units and capacity
  (``lookahead.Pricer``), and the router adds those prices to each option's cost.
- ``online+accept``: ``online`` with a router that expects rejections
  (``Router(accept_rates=...)``): each option's cost adds, per line, the chance its store
  rejects it times the expected cost of re-routing it; the stores' rates are the day's.

Stock falls as orders are decided (units leave for good: ``Router.complete`` and
``Router.sell``); a store's ``capacity`` is packages per hour in the simulation (its column
in the stores file, or ``capacity:N``), renewed at every hour; a plan in hour h spends hour
h's. The day's KPIs (``kpis``) are computed from the decisions' plan rows, each order's
cost by the omnifill cost model (docs/cost-model.md) with the ETA the customer sees and the promise the customer was
given.

Rejections (docs/rejections.md, "The simulator"): with acceptance rates below 1 (``accept``:
per store, from the stores file's ``accept_rate`` or bench's ``--accept``), each line a store
is given under ``online`` is accepted with its store's rate; the lines a store rejects come
back ``reject_delay`` minutes later as a ``not_in_stock`` rejection (``Router.reject``) and are
re-routed then, each new line drawn again (at most ``MAX_REJECT_ROUNDS`` times). An order is
final (completed, its KPIs recorded) once its lines are all accepted.

What-ifs (``parse_what_if``) change the network, never the orders: ``close:S1,S2``,
``open:LAT,LON[;LAT,LON...]`` (a new store with its nearest store's city, handling time,
assortment and stock), ``stock:xF`` or ``stock:xF:topN`` (every store's on-hand times F,
rounded; with topN only the N SKUs the day orders most units of; warehouses unchanged),
``handling:M`` (every store's pick-and-pack minutes), ``capacity:N`` (every store's packages
per hour; warehouses keep theirs, unlimited unless the stores file gives one), ``accept:P``
(every store accepts a share P of its lines; warehouses keep theirs).

This module simulates and measures; ``report`` draws. Imports flow cli -> bench -> planner /
router -> model.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .decision import Decision
from .io import (
    Problems,
    float_col,
    load_inventory_table,
    load_orders_table,
    load_stores_table,
    load_zones,
    read_table,
)
from .model import Network, Order, OrderBatch
from .options import ON_TIME_TOL_MIN, row_packages
from .router import Router
from .scenarios import (
    CITY,
    DAY_PROFILE,
    City,
    demo_paths,
    shanghai_day,
    synthetic_day,
    with_arrivals,
)

POLICIES = ("online", "online+reroute", "hold", "online+accept", "online+prices", "hindsight")
# the policies under which stores may reject (their decisions are the router's reservations)
REJECTING_POLICIES = ("online", "online+accept")
MAX_REJECT_ROUNDS = 5  # a line is given to at most this many more stores after a rejection
SCENARIOS = ("demo", "city", "shanghai")
MINUTES_PER_DAY = 1440.0


# --- scenarios -----------------------------------------------------------------------------------

@dataclass
class Scenario:
    """A network and a day of orders, as tables (the columns of docs/file-formats.md; ``orders`` one row per
    line with ``arrival_min``). A store's ``capacity`` column is its packages per hour in the
    simulation."""

    name: str
    stores: dict
    inventory: dict
    orders: dict
    zones: str | None = None
    changes: list = field(default_factory=list)  # the what-ifs applied, as given


def load_scenario(scenario: str, *, data: str | None = None, seed: int = 0, zones: str | None = None,
                  max_errors: int = 100) -> Scenario:
    """A built-in scenario by name (``demo``: the bundled demo city; ``city``: a generated
    city of 2,000 stores and 20,000 orders (``CITY``); ``shanghai``: the real Shanghai
    shops and orders, from ``data``), or a directory holding ``stores``, ``inventory`` and
    ``orders`` files (CSV or Parquet; orders may be JSON Lines). Orders without an
    ``arrival_min`` column get arrivals drawn over the day (``scenarios.DAY_PROFILE``) with
    ``seed``. Files are validated as the other commands validate them (InputError naming
    file, row, column and value)."""
    if scenario == "demo":
        paths = demo_paths()
        return _from_files("demo", paths["stores"], paths["inventory"], paths["orders"], zones, seed, max_errors)
    if scenario == "city":
        return _from_city("city", synthetic_day(seed=seed, city="city", **CITY), zones)
    if scenario == "shanghai":
        if not data:
            raise ValueError("the shanghai scenario is built from the shared data: give --data DIR "
                             "(the folder holding shanghai_cainiao_lastmile_2016 and completejourney_baskets)")
        return _from_city("shanghai", shanghai_day(data, seed=seed), zones)
    d = Path(scenario)
    if not d.is_dir():
        raise ValueError(f"--scenario {scenario!r} is neither a built-in scenario ({', '.join(SCENARIOS)}) "
                         "nor a directory")
    found = {}
    for name in ("stores", "inventory", "orders"):
        hits = [d / f"{name}{ext}" for ext in (".csv", ".parquet", ".jsonl") if (d / f"{name}{ext}").exists()]
        if not hits:
            raise ValueError(f"{d}: no {name}.csv or {name}.parquet")
        found[name] = hits[0]
    if zones is None and (d / "zones.geojson").exists():
        zones = str(d / "zones.geojson")
    return _from_files(d.name, found["stores"], found["inventory"], found["orders"], zones, seed, max_errors)


def _from_files(name, stores, inventory, orders, zones, seed, max_errors) -> Scenario:
    # each file read once, validated as reroute validates it (every problem named by file,
    # row, column and value), and kept as tables for the what-ifs
    probs = Problems(max_errors)
    st = read_table(stores)
    idx = load_stores_table(st, probs).index()
    probs.raise_if_any()
    inv = read_table(inventory)
    load_inventory_table(inv, idx, probs)
    ot = read_table(orders, allow_jsonl=True)
    load_orders_table(ot, idx, probs)
    if zones is not None:
        load_zones(zones, idx, probs=probs)
    probs.raise_if_any()
    cols = _columns(ot)
    if "arrival_min" in cols:
        probs = Problems(max_errors)
        at = float_col(ot, "arrival_min", probs, lo=0, hi=MINUTES_PER_DAY, what="minutes since the day began")
        first: dict = {}
        for i, (o, a) in enumerate(zip(cols["order_id"], at)):
            j = first.setdefault(o, i)
            if not _same_time(at[j], a):
                probs.add(ot.problem(i, "arrival_min", cols["arrival_min"][i],
                                     f"differs from this order's first line (row {j + 1}); an order arrives once"))
        probs.raise_if_any()
        cols["arrival_min"] = [float(a) for a in at]
        city = City(_columns(st), _columns(inv), cols)
    else:
        city = with_arrivals(City(_columns(st), _columns(inv), cols), seed, DAY_PROFILE)
    return Scenario(name, city.stores, city.inventory, city.orders, zones)


def _same_time(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _columns(t) -> dict:
    return {k: list(v) for k, v in t.columns.items()}


def _from_city(name, city: City, zones) -> Scenario:
    return Scenario(name, city.stores, city.inventory, city.orders, zones)


# --- what-ifs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WhatIf:
    spec: str  # as given
    kind: str  # close | open | stock | handling | capacity | accept
    value: Any  # per kind: a set of store ids, [(lat, lon)], (factor, top n), minutes, units, a share


def parse_what_if(spec: str) -> WhatIf:
    """``close:ID,...``, ``open:LAT,LON[;LAT,LON...]``, ``stock:xF[:topN]``, ``handling:M``,
    ``capacity:N``, ``accept:P`` (the module's docstring). ValueError naming the spec and what is wrong."""
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()

    def bad(why):
        return ValueError(f"--what-if {spec!r}: {why}")

    if not sep or not rest.strip():
        raise bad("expected KIND:VALUE, KIND one of close, open, stock, handling, capacity, accept")
    rest = rest.strip()
    if kind == "close":
        ids = [s.strip() for s in rest.split(",") if s.strip()]
        if not ids:
            raise bad("no store id")
        return WhatIf(spec, kind, tuple(ids))
    if kind == "open":
        pts = []
        for part in rest.split(";"):
            try:
                lat, lon = (float(v) for v in part.split(","))
            except ValueError:
                raise bad(f"{part!r} is not LAT,LON") from None
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise bad(f"{part!r} is outside WGS84 degrees")
            pts.append((lat, lon))
        return WhatIf(spec, kind, tuple(pts))
    if kind == "stock":
        factor, _, top = rest.partition(":")
        if not factor.lower().startswith("x"):
            raise bad("expected stock:xFACTOR or stock:xFACTOR:topN, e.g. stock:x2:top500")
        try:
            f = float(factor[1:])
        except ValueError:
            raise bad(f"{factor[1:]!r} is not a number") from None
        if not (f >= 0 and math.isfinite(f)):
            raise bad("the factor must be a finite number >= 0")
        n_top = None
        if top:
            if not top.lower().startswith("top") or not top[3:].isdigit() or int(top[3:]) < 1:
                raise bad(f"{top!r}: expected topN, N a whole number >= 1")
            n_top = int(top[3:])
        return WhatIf(spec, kind, (f, n_top))
    if kind == "accept":
        try:
            v = float(rest)
        except ValueError:
            raise bad(f"{rest!r} is not a number") from None
        if not 0 <= v <= 1:
            raise bad("the share of lines a store accepts, from 0 to 1")
        return WhatIf(spec, kind, v)
    if kind in ("handling", "capacity"):
        try:
            v = float(rest)
        except ValueError:
            raise bad(f"{rest!r} is not a number") from None
        if not (v >= 0 and math.isfinite(v)) or (kind == "capacity" and v != int(v)):
            raise bad("minutes >= 0" if kind == "handling" else "a whole number of packages per hour >= 0")
        return WhatIf(spec, kind, v)
    raise bad(f"unknown kind {kind!r}; one of close, open, stock, handling, capacity, accept")


def apply_what_if(sc: Scenario, w: WhatIf) -> Scenario:
    """The scenario with the network changed as ``w`` says (orders unchanged)."""
    stores = {k: list(v) for k, v in sc.stores.items()}
    inv = {k: list(v) for k, v in sc.inventory.items()}
    orders = sc.orders
    ids = [str(s) for s in stores["store_id"]]
    kind = stores.get("kind", ["store"] * len(ids))
    is_store = [str(k or "store") == "store" for k in kind]
    if w.kind == "close":
        gone = set(w.value)
        unknown = sorted(gone - set(ids))
        if unknown:
            raise ValueError(f"--what-if {w.spec!r}: no store {', '.join(map(repr, unknown))} in the scenario")
        for col in ("pickup_store",):
            named = {str(v) for v in orders.get(col, []) if v not in (None, "")} & gone
            if named:
                raise ValueError(f"--what-if {w.spec!r}: orders name {min(named)!r} as their {col}")
        keep = [i for i, s in enumerate(ids) if s not in gone]
        stores = {k: [v[i] for i in keep] for k, v in stores.items()}
        ik = [i for i, s in enumerate(inv["store_id"]) if str(s) not in gone]
        inv = {k: [v[i] for i in ik] for k, v in inv.items()}
        orders = {k: list(v) for k, v in orders.items()}
        for col in ("home_store", "current_store"):
            if col in orders:
                orders[col] = [None if str(v) in gone else v for v in orders[col]]
    elif w.kind == "open":
        lat = np.asarray(stores["lat"], np.float64)
        lon = np.asarray(stores["lon"], np.float64)
        cand = np.flatnonzero(is_store)
        if not len(cand):
            raise ValueError(f"--what-if {w.spec!r}: the scenario has no store to copy an assortment from")
        by_store: dict[str, list[int]] = {}
        for i, s in enumerate(inv["store_id"]):
            by_store.setdefault(str(s), []).append(i)
        for k, (la, lo) in enumerate(w.value, 1):
            from .geo import haversine_m

            near = int(cand[np.argmin(haversine_m(lat[cand], lon[cand], la, lo))])
            new_id = f"NEW{k:03d}"
            while new_id in ids:
                new_id += "_"
            ids.append(new_id)
            for col, vals in stores.items():
                vals.append({"store_id": new_id, "lat": la, "lon": lo}.get(col, vals[near]))
            for i in by_store.get(ids[near], []):
                for col, vals in inv.items():
                    vals.append(new_id if col == "store_id" else vals[i])
    elif w.kind == "stock":
        f, n_top = w.value
        top = None
        if n_top is not None:
            units: dict[str, int] = {}
            for s, q in zip(orders["sku"], orders["qty"]):
                units[str(s)] = units.get(str(s), 0) + int(q)
            top = set(sorted(units, key=lambda s: (-units[s], s))[:n_top])
        store_set = {ids[i] for i in range(len(ids)) if is_store[i]}
        inv["on_hand"] = [round(float(q) * f) if str(s) in store_set and (top is None or str(k) in top)
                          else q for s, k, q in zip(inv["store_id"], inv["sku"], inv["on_hand"])]
    elif w.kind == "handling":
        h = stores.get("handling_min", [None] * len(ids))
        stores["handling_min"] = [w.value if is_store[i] else h[i] for i in range(len(ids))]
    elif w.kind == "capacity":  # the stores'; a warehouse keeps its own (unlimited when not given)
        c = stores.get("capacity", [None] * len(ids))
        stores["capacity"] = [int(w.value) if is_store[i] else c[i] for i in range(len(ids))]
    elif w.kind == "accept":  # the stores'; a warehouse keeps its own (1 when not given)
        a = stores.get("accept_rate", [None] * len(ids))
        stores["accept_rate"] = [w.value if is_store[i] else a[i] for i in range(len(ids))]
    return Scenario(sc.name, stores, inv, orders, sc.zones, sc.changes + [w.spec])


# --- the day -------------------------------------------------------------------------------------

@dataclass
class DayResult:
    """One simulated day (or one plan, for ``reroute --report``): per order and per store
    arrays, and the wall time. ``kpis()`` summarises it."""

    label: str
    policy: str
    order_id: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    promise: np.ndarray
    arrival: np.ndarray
    eta: np.ndarray  # the customer's: minutes from arrival to the last package; nan when nothing filled
    lines: np.ndarray
    unfilled: np.ndarray
    packages: np.ndarray
    transfers: np.ndarray
    parcels: np.ndarray
    moved: np.ndarray
    cost: np.ndarray
    store_id: np.ndarray
    store_lat: np.ndarray
    store_lon: np.ndarray
    store_kind: np.ndarray
    store_packages: np.ndarray  # packages delivered or prepared, and transfers sent, per store
    capacity_per_hour: np.ndarray  # per store (inf: unlimited)
    hours: float  # the clock hours from the first decision to the last (each renews capacity)
    wall_s: float
    n_replans: int = 0
    # capacity spent per (store index, clock hour): packages delivered or prepared and
    # transfers sent in that hour, which capacity_per_hour bounds (store_packages summed by hour)
    hour_packages: dict = field(default_factory=dict)
    # rejections, when the day simulated them (None: every store accepted everything): per
    # order, the lines rejected, the re-routes (Router.reject calls), and the cost and
    # on-time of its first decision (before any rejection)
    rejected_lines: np.ndarray | None = None
    reroutes: np.ndarray | None = None
    first_cost: np.ndarray | None = None
    first_on_time: np.ndarray | None = None
    # hindsight: the planner's lower bound on the day's cost (None for the other policies)
    lower_bound: float | None = None
    # online+prices: what the pricing did (reprices, their seconds, decisions a price
    # changed, orders decided without prices for want of search nodes); None otherwise
    pricing: dict | None = None

    @property
    def on_time(self) -> np.ndarray:
        # on time (options.is_on_time): every line filled and the last package within the promise
        return (self.unfilled == 0) & (self.packages > 0) & (self.eta <= self.promise + ON_TIME_TOL_MIN)

    def kpis(self) -> dict:
        n = len(self.order_id)
        filled = ~np.isnan(self.eta)
        eta = self.eta[filled]
        tiers = {}
        for p in sorted(set(self.promise.tolist())):
            sel = self.promise == p
            tiers[f"{p:g}"] = float(self.on_time[sel].mean()) if sel.any() else None
        stores = self.store_kind == "store"
        sp = self.store_packages[stores]
        cap = self.capacity_per_hour[stores]
        fin = np.isfinite(cap) & (cap > 0)
        util = (sp[fin] / (cap[fin] * self.hours)) if fin.any() else np.zeros(0)
        return {
            "orders": n,
            "lines": int(self.lines.sum()),
            "on_time_rate": float(self.on_time.mean()) if n else None,
            "on_time_rate_by_tier": tiers,
            "eta_mean_min": float(eta.mean()) if len(eta) else None,
            "eta_p90_min": float(np.percentile(eta, 90)) if len(eta) else None,
            "packages_per_order": float(self.packages.sum() / n) if n else None,
            "packages": int(self.packages.sum()),
            "transfers": int(self.transfers.sum()),
            "parcels": int(self.parcels.sum()),
            "unfilled_lines": int(self.unfilled.sum()),
            "unfilled_orders": int((self.unfilled > 0).sum()),
            "moved": int(self.moved.sum()),
            "total_cost": float(self.cost.sum()),
            "cost_per_order": float(self.cost.sum() / n) if n else None,
            "stores_used": int((sp > 0).sum()),
            "store_packages_mean": float(sp.mean()) if len(sp) else None,
            "store_packages_max": int(sp.max()) if len(sp) else None,
            "store_utilisation_mean": float(util.mean()) if len(util) else None,
            "store_utilisation_max": float(util.max()) if len(util) else None,
            "replans": self.n_replans,
            "wall_s": self.wall_s,
            "orders_per_second": n / self.wall_s if self.wall_s > 0 else None,
        } | self._rejection_kpis() | ({} if self.lower_bound is None else {"hindsight_lower_bound": self.lower_bound}
                                        ) | (self.pricing or {})

    def _rejection_kpis(self) -> dict:
        # what the stores' rejections did to the day (only when it simulated them)
        if self.rejected_lines is None:
            return {}
        assert self.reroutes is not None and self.first_cost is not None and self.first_on_time is not None
        n = len(self.order_id)
        hit = self.rejected_lines > 0
        return {
            "rejected_lines": int(self.rejected_lines.sum()),
            "rejected_line_rate": float(self.rejected_lines.sum() / max(1, int(self.lines.sum()))),
            "rejected_orders": int(hit.sum()),
            "reroutes": int(self.reroutes.sum()),
            # the cost the rejections added: each such order's final cost less its first decision's
            "rejection_extra_cost": float((self.cost[hit] - self.first_cost[hit]).sum()),
            # the on-time rate they took: orders on time as first decided, not at the end
            "rejection_on_time_loss": float((self.first_on_time & ~self.on_time).sum() / n) if n else None,
        }


def network_of(sc: Scenario, config: Config | None = None, max_errors: int = 100) -> Network:
    return Network.from_tables(sc.stores, sc.inventory, sc.zones, config, max_errors=max_errors)


def day_orders(sc: Scenario, net: Network) -> tuple[OrderBatch, np.ndarray]:
    """The scenario's orders as a batch, and each order's arrival minute."""
    batch = OrderBatch.from_tables({k: v for k, v in sc.orders.items() if k != "arrival_min"}, net)
    first: dict = {}
    for o, a in zip(sc.orders["order_id"], sc.orders["arrival_min"]):
        first.setdefault(str(o), float(a))
    return batch, np.array([first[str(o)] for o in batch.order_id], np.float64)


def simulate(net: Network, batch: OrderBatch, arrival: np.ndarray, config: Config | None = None, *,
             policy: str = "online", reroute_every: float = 15.0, hold_min: float = 5.0,
             time_limit_s: float = 2.0, seed: int = 0, capacity_per_hour=None, label: str | None = None,
             progress=None, accept=None, reject_delay: float = 10.0,
             reject_cost: float | None = None, hindsight_limit_s: float = 60.0, reprice_every: float = 60.0,
             forecast_scale: float = 1.0, price_limit_s: float = 30.0) -> DayResult:
    """Simulate the day: ``batch``'s orders arriving at ``arrival`` (minutes), decided by
    ``policy`` (the module's docstring). ``time_limit_s``: the planner's limit per re-plan
    or batch. ``capacity_per_hour``: every store's packages per hour (default the
    network's ``capacity``). Every order line comes out once: the result's orders are the
    batch's, in its order. progress(done, total) as orders are decided. ``accept``: per
    store, the share of its lines it accepts (None, or all 1: no rejections); a rejected line
    is re-routed ``reject_delay`` minutes later (the module's docstring); draws from ``seed``.
    ``reject_cost``: ``online+accept``'s expected cost of re-routing a rejected line
    (default the Router's: ``per_package + (per_minute + late_per_minute) * reject_delay``).
    ``reprice_every``, ``forecast_scale``, ``price_limit_s``: ``online+prices``'s minutes
    between re-solves of its LP, the forecast's volume against the day's, and the seconds one
    re-solve's column generation may take (the module's docstring)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    rates = None if accept is None else np.broadcast_to(np.asarray(accept, np.float64), (len(net),))
    if rates is not None and not ((rates >= 0) & (rates <= 1)).all():
        raise ValueError("accept rates are shares from 0 to 1")
    if rates is not None and (rates >= 1).all():
        rates = None
    if rates is not None and policy not in REJECTING_POLICIES:
        raise ValueError(f"stores reject lines only under {', '.join(REJECTING_POLICIES)} (its decisions are the "
                         f"router's reservations); policy {policy} plans batches that are sold at once")
    if not (math.isfinite(reprice_every) and reprice_every > 0):
        raise ValueError(f"reprice_every must be minutes > 0, got {reprice_every!r}")
    if not (math.isfinite(forecast_scale) and forecast_scale >= 0):
        raise ValueError(f"forecast_scale must be a number >= 0, got {forecast_scale!r}")
    if not (math.isfinite(reject_delay) and reject_delay >= 0):
        raise ValueError(f"reject_delay must be minutes >= 0, got {reject_delay!r}")
    cfg = config or net.config
    cap = np.broadcast_to(np.asarray(net.capacity if capacity_per_hour is None else capacity_per_hour,
                                     np.float64), (len(net),)).copy()
    n = len(batch)
    orders = [Order.from_batch(batch, i, net.store_ids) for i in range(n)]
    seq = np.lexsort((np.arange(n), arrival))  # arrival order, file order on ties
    now = [0.0]  # the simulated clock, minutes (the router's, for rejections' windows)
    cc = cfg.cost
    router = Router(net, cfg, clock=lambda: now[0],
                    accept_rates=rates if policy == "online+accept" else None,
                    reject_cost=(cc.per_package + (cc.per_minute + cc.late_per_minute) * reject_delay
                                 if reject_cost is None else float(reject_cost)))
    router.reset_capacity(cap)
    st = _Stats(net, n)
    tick = progress or (lambda *a: None)
    t0 = time.perf_counter()
    hour = [-1]
    first_hour: list[int | None] = [None]

    def clock(t):
        now[0] = t
        h = int(t // 60)
        if h != hour[0]:
            hour[0] = h
            first_hour[0] = h if first_hour[0] is None else first_hour[0]
            router.reset_capacity(cap)
            router.set_hour(h % 24)  # road times at the clock's hour (no change for the great circle)
        st.hour = h

    replans = 0
    lower_bound = None
    pricing = None
    if policy == "online+prices":
        pricing = _online_with_prices(router, batch, orders, arrival, seq, st, clock, cap, reprice_every,
                                      forecast_scale, price_limit_s, seed, tick)
        replans = pricing["reprices"]
    elif policy == "hindsight":
        lower_bound = _hindsight(router, net, batch, orders, arrival, cap, cfg, hindsight_limit_s, seed, st)
        replans = 1
    elif policy in REJECTING_POLICIES and rates is not None:
        st.rejections = True
        _online_with_rejections(router, orders, arrival, seq, st, clock, rates, reject_delay, seed, tick)
    elif policy in ("online", "online+accept"):  # (every store accepts: online+accept is online)
        for done, i in enumerate(seq.tolist()):
            clock(arrival[i])
            d = router.route(orders[i])
            st.record_decision(i, d, len(orders[i].lines))
            router.complete(orders[i].order_id)
            if done % 500 == 0:
                tick(done, n)
    elif policy == "hold":
        window = np.floor(arrival / hold_min).astype(np.int64)
        for w in np.unique(window).tolist():
            idx = seq[window[seq] == w]
            t = (w + 1) * hold_min
            clock(min(t, MINUTES_PER_DAY - 1e-6))
            rows = _plan_batch(router, router.network, cfg, [orders[i] for i in idx], t - arrival[idx], None,
                               time_limit_s, seed)
            for i, rs in zip(idx.tolist(), rows):
                st.record(i, rs, t - arrival[i], moved=False)
            replans += 1
            tick(int(st.done.sum()), n)
    else:
        open_: list[int] = []
        decided: dict[int, Decision] = {}
        routed_hour: dict[int, int] = {}  # the clock hour whose capacity an order's route spent
        k = 0
        checkpoints = math.ceil((arrival.max() if n else 0.0) / reroute_every) + 1
        for c in range(1, checkpoints + 1):
            t = c * reroute_every
            while k < n and arrival[seq[k]] < t:
                i = int(seq[k])
                clock(arrival[i])
                decided[i] = router.route(orders[i])
                routed_hour[i] = hour[0]
                open_.append(i)
                k += 1
            if not open_:
                continue
            keep: list[int] = []
            free: list[int] = []
            for i in open_:
                d = decided[i]
                waited = t - arrival[i]
                (keep if d.eta_min > orders[i].promise_min - waited and _filled(d.rows) else free).append(i)
            for i in keep:
                st.record(i, decided[i].rows, 0.0, moved=False, hour=routed_hour[i])
                router.complete(orders[i].order_id)
            # the orders re-planned give back their stock, and their capacity to the hour that
            # spent it: before the clock moves on (a capacity unit of an hour gone is not
            # handed to the next hour, which starts full)
            for i in free:
                router.release(orders[i].order_id, capacity=routed_hour[i] == hour[0])
            clock(min(t, MINUTES_PER_DAY - 1e-6))
            if free:
                current = [_home_of(decided[i].rows) for i in free]
                wait = t - arrival[np.array(free)]
                # the planner's cost has one move penalty; a moved order here also waits, up to
                # the longest wait of the batch: priced in, so that no move costs more than it gains
                mcfg = dataclasses.replace(cfg, cost=dataclasses.replace(
                    cfg.cost, move_penalty=cfg.cost.move_penalty + cfg.cost.per_minute * float(wait.max())))
                rows = _plan_batch(router, router.network, mcfg, [orders[i] for i in free], wait, current,
                                   time_limit_s, seed)
                for i, rs, cur, wt in zip(free, rows, current, wait.tolist()):
                    # moved: its packages now go from other stores (not merely re-planned: the
                    # planner calls every split order "moved", as it has one current store)
                    moved = cur is None or _sends(rs, st.idx) != _sends(decided[i].rows, st.idx)
                    st.record(i, rs, wt if moved else 0.0, moved=cur is not None and moved)
                replans += 1
            open_ = []
            tick(int(st.done.sum()), n)
    tick(n, n)
    wall = time.perf_counter() - t0
    missing = np.flatnonzero(~st.done)
    if len(missing):  # never: every order is decided once
        raise RuntimeError(f"the simulation lost {len(missing)} orders, the first {batch.order_id[missing[0]]}")
    # the clock hours from the first decision to the last, each with a fresh capacity
    hours = 1 if first_hour[0] is None else hour[0] - first_hour[0] + 1
    if policy == "hindsight":
        hours = _day_hours(arrival)
    r = st.result(label or policy, policy, batch, arrival, cfg, cap, hours, wall, replans)
    r.lower_bound = lower_bound
    r.pricing = pricing
    return r


def _online_with_prices(router: Router, batch: OrderBatch, orders: list[Order], arrival: np.ndarray,
                        seq: np.ndarray, st: _Stats, clock, cap: np.ndarray, every: float, scale: float,
                        limit_s: float, seed: int, tick) -> dict:
    """``online+prices``: ``online`` with the shadow prices of a forecast drawn from the
    day's profile, popularity and places, re-solved every ``every`` minutes (the module's
    docstring). Returns its KPIs."""
    from .lookahead import Pricer, forecast_day

    fc, when = forecast_day(np.asarray(batch.lat, np.float64), np.asarray(batch.lon, np.float64),
                            np.asarray(batch.promise_min, np.float64), np.diff(np.asarray(batch.line_indptr)),
                            batch.line_sku, batch.line_qty, arrival, scale=scale, seed=seed)
    pricer = Pricer(fc, when, time_limit_s=limit_s)
    end_hour = int(np.max(arrival) // 60) if len(arrival) else 0
    seconds, reprices, changed, unpriced, converged = 0.0, 0, 0, 0, 0
    priced_units = []
    lat_s = np.zeros(len(seq))  # per decision, the route call's seconds
    next_at = -math.inf
    for done, i in enumerate(seq.tolist()):
        t = float(arrival[i])
        clock(t)
        if t >= next_at:
            # what the orders still to come may spend: this hour's capacity left, and every
            # later hour's of the day
            left = np.asarray(router.capacity_left_all(), np.float64)
            fin = np.isfinite(cap)
            pooled = np.full(len(cap), np.inf)
            pooled[fin] = left[fin] + cap[fin] * max(0, end_hour - int(t // 60))
            t0 = time.perf_counter()
            prices = pricer.prices(router, t, pooled)
            seconds += time.perf_counter() - t0
            router.set_prices(prices)
            reprices += 1
            converged += prices.converged
            priced_units.append(len(prices))
            next_at = (math.floor(t / every) + 1) * every
        t1 = time.perf_counter()
        d = router.route(orders[i])
        lat_s[done] = time.perf_counter() - t1
        if d.priced_cost is None:
            unpriced += 1
        elif d._snap.myopic is not None:  # type: ignore[union-attr]
            changed += 1
        st.record_decision(i, d, len(orders[i].lines))
        router.complete(orders[i].order_id)
        if done % 500 == 0:
            tick(done, len(orders))
    return {"reprices": reprices, "price_seconds": seconds, "price_changed_orders": changed,
            "price_unpriced_orders": unpriced, "price_lp_converged": converged,
            "priced_units_mean": float(np.mean(priced_units)) if priced_units else 0.0,
            "forecast_orders": len(fc),
            "route_p50_us": float(np.percentile(lat_s, 50) * 1e6) if len(lat_s) else None,
            "route_p99_us": float(np.percentile(lat_s, 99) * 1e6) if len(lat_s) else None}


def _day_hours(arrival: np.ndarray) -> int:
    # the clock hours the day's arrivals span, each renewing a store's capacity
    if not len(arrival):
        return 1
    return int(np.max(arrival) // 60) - int(np.min(arrival) // 60) + 1


def _hindsight(router: Router, net: Network, batch: OrderBatch, orders: list[Order], arrival: np.ndarray,
               cap: np.ndarray, cfg: Config, time_limit_s: float, seed: int, st: _Stats) -> float | None:
    """The ``hindsight`` policy: the whole day as one backlog (capacity pooled over the
    day's clock hours), recorded with no wait, each package in the hour its order arrived.
    Returns the plan's lower bound on its cost."""
    from .planner import plan

    pooled = np.where(np.isfinite(cap), cap * _day_hours(arrival), np.inf)
    router.reset_capacity(pooled)
    now = router.network_now()
    p = plan(now, batch, cfg, time_limit_s=time_limit_s, seed=seed, threads=1)
    by: dict[str, list[dict]] = {o.order_id: [] for o in orders}
    for r in p.rows:
        by[str(r["order_id"])].append(r)
    for i, o in enumerate(orders):
        st.record(i, by[o.order_id], 0.0, moved=False, hour=int(arrival[i] // 60))
    # the bound over every option (not the model's, over the listed options only): no plan
    # of the day under the relaxation, hindsight or not, costs less
    bound = p.summary.get("lower_bound")
    return None if bound is None else float(bound)


def _online_with_rejections(router: Router, orders: list[Order], arrival: np.ndarray, seq: np.ndarray, st: _Stats,
                            clock, rates: np.ndarray, delay: float, seed: int, tick) -> None:
    """``online`` with stores that reject lines: each line given to a store is accepted with
    the store's rate; the rejected ones come back ``delay`` minutes later (events in time
    order, before the orders arriving after them) as a not_in_stock rejection, and their
    new stores draw again. An order is completed, and recorded, once every line is accepted
    (or was given MAX_REJECT_ROUNDS times after a rejection)."""
    rng = np.random.default_rng([seed, 20])
    tie = itertools.count()  # events at one time in the order they were made
    idx = st.idx
    pending: list[tuple[float, int, int, dict[str, list[str]], int]] = []  # (time, tie, order, rejected, round)
    current: dict[int, Decision] = {}
    n_lines = [len(o.lines) for o in orders]
    # per open order, (store, clock hour) of each capacity unit its packages and transfers
    # spent: a store re-routed to spends in the hour of the re-route; a store that rejected
    # keeps its unit spent (the attempt took it) but sends nothing, so it leaves the list
    spent: dict[int, list[tuple[int, int]]] = {}

    def draw(i: int, d: Decision, t: float, rnd: int, skus: set[str] | None) -> None:
        # each line just given to a store (all, or those of ``skus``) accepted with its rate
        rejected: dict[str, list[str]] = {}
        for r in d.rows:
            if r["mode"] == "unfilled" or (skus is not None and r["sku"] not in skus):
                continue
            if rng.random() >= rates[idx[str(r["source_id"])]]:
                rejected.setdefault(str(r["source_id"]), []).append(r["sku"])
        if rejected and rnd < MAX_REJECT_ROUNDS:
            heapq.heappush(pending, (t + delay, next(tie), i, rejected, rnd + 1))
            current[i] = d
            return
        st.record_decision(i, d, n_lines[i], spent.pop(i))
        router.complete(orders[i].order_id)
        current.pop(i, None)

    def events_until(t_end: float) -> None:
        while pending and pending[0][0] <= t_end:
            t, _, i, rejected, rnd = heapq.heappop(pending)
            clock(t)
            d = current[i]
            again: set[str] = set()
            for sid, skus in rejected.items():
                before = Counter(d.option.stores())
                d = router.reject(orders[i].order_id, sid, sorted(set(skus)), reason="not_in_stock",
                                  elapsed_min=t - float(arrival[i]), capacity=False)
                after = Counter(d.option.stores())
                mine = spent[i]
                for s_, k in (before - after).items():
                    for _ in range(k):
                        mine.remove(next(x for x in reversed(mine) if x[0] == s_))
                mine += [(s_, st.hour) for s_, k in (after - before).items() for _ in range(k)]
                st.rejected_lines[i] += len(skus)
                st.reroutes[i] += 1
                again.update(skus)
            draw(i, d, t, rnd, again)

    for done, i in enumerate(seq.tolist()):
        events_until(float(arrival[i]))
        clock(arrival[i])
        d = router.route(orders[i])
        spent[i] = [(s_, st.hour) for s_ in d.option.stores()]
        st.first_cost[i] = d.cost
        st.first_on_time[i] = d.on_time
        draw(i, d, float(arrival[i]), 0, None)
        if done % 500 == 0:
            tick(done, len(orders))
    events_until(math.inf)


def _filled(rows) -> bool:
    return any(r["mode"] != "unfilled" for r in rows)


def _sends(rows, idx) -> set:
    # where an order's packages go from: (store, mode) per package
    return set(row_packages(rows, idx)[0].values())


def _home_of(rows) -> str | None:
    # the store an order is at: the one delivering (or preparing) its first package
    for r in rows:
        if r["mode"] != "unfilled" and r.get("package") == 1:
            return r["via_id"] if r["mode"] == "transfer" else r["source_id"]
    return None


def _plan_batch(router: Router, net: Network, cfg: Config, orders: list[Order], waited: np.ndarray,
                current, time_limit_s: float, seed: int) -> list[list[dict]]:
    """Plan a batch with the stock and capacity the router has left, each order with the
    promise it has left (at least 0.1 minute); sell the plan. Rows per order, in order."""
    from .planner import plan, stay_mode

    cols: dict[str, list] = {"order_id": [], "lat": [], "lon": [], "sku": [], "qty": [], "promise_min": [],
                             "mode": [], "pickup_store": [], "home_store": [], "city": [], "current_store": []}
    for j, o in enumerate(orders):
        left = max(0.1, o.promise_min - float(waited[j]))
        cur = None if current is None else current[j]
        # the promise left may put the order in a shorter tier, whose zone its store lacks:
        # then staying is no option the planner has, and the order is planned afresh
        if cur is not None and stay_mode(net, o, net.index_of(cur), left) is None:
            cur = None
        for sku, q in o.lines:
            cols["order_id"].append(o.order_id)
            cols["lat"].append(o.lat)
            cols["lon"].append(o.lon)
            cols["sku"].append(sku)
            cols["qty"].append(int(q))
            cols["promise_min"].append(left)
            cols["mode"].append(o.mode)
            cols["pickup_store"].append(o.pickup_store)
            cols["home_store"].append(o.home_store)
            cols["city"].append(o.city)
            cols["current_store"].append(cur)
    now = router.network_now()
    p = plan(now, OrderBatch.from_tables(cols, now), cfg, time_limit_s=time_limit_s, seed=seed, threads=1)
    router.sell(p.rows)
    by: dict[str, list[dict]] = {o.order_id: [] for o in orders}
    for r in p.rows:
        by[r["order_id"]].append(r)
    return [by[o.order_id] for o in orders]


class _Stats:
    """Per order, what its rows say; per store, the packages it sent."""

    def __init__(self, net: Network, n: int):
        self.net = net
        self.idx = net.store_index_map()
        self.done = np.zeros(n, bool)
        self.eta = np.full(n, np.nan)
        self.lines = np.zeros(n, np.int64)
        self.unfilled = np.zeros(n, np.int64)
        self.packages = np.zeros(n, np.int64)
        self.transfers = np.zeros(n, np.int64)
        self.parcels = np.zeros(n, np.int64)
        self.moved = np.zeros(n, bool)
        self.store_packages = np.zeros(len(net), np.int64)
        self.hour = 0  # the clock hour decisions are recorded in (the simulator's clock sets it)
        self.hour_packages: dict[tuple[int, int], int] = {}
        self.rejections = False  # the day simulates rejections (the arrays below are kept)
        self.rejected_lines = np.zeros(n, np.int64)
        self.reroutes = np.zeros(n, np.int64)
        self.first_cost = np.full(n, np.nan)
        self.first_on_time = np.zeros(n, bool)

    def _spend(self, store: int, hour: int | None) -> None:
        self.store_packages[store] += 1
        key = (int(store), self.hour if hour is None else int(hour))
        self.hour_packages[key] = self.hour_packages.get(key, 0) + 1

    def record(self, i: int, rows, waited: float, *, moved: bool, hour: int | None = None,
               spent: list[tuple[int, int]] | None = None) -> None:
        """Order i's rows; ``hour``: the clock hour whose capacity they spent (default now);
        ``spent``: instead, (store, hour) per capacity unit its packages and transfers spent
        (an order re-routed after a rejection spent them in several hours)."""
        if self.done[i]:
            raise RuntimeError(f"order {rows[0]['order_id'] if rows else i} decided twice")
        self.done[i] = True
        self.lines[i] = len(rows)
        self.unfilled[i] = sum(r["mode"] == "unfilled" for r in rows)
        pk, tr = row_packages(rows, self.idx)
        self.packages[i] = len(pk)
        self.parcels[i] = sum(1 for _, m in pk.values() if m == "parcel")
        self.transfers[i] = len(tr)
        self.moved[i] = moved
        eta = max((float(r["eta_min"]) for r in rows if r["mode"] != "unfilled"), default=np.nan)
        self.eta[i] = eta + waited if pk else np.nan
        if spent is not None:
            for s, h in spent:
                self._spend(s, h)
            return
        for s, _ in pk.values():
            self._spend(s, hour)
        for _, _, s, _ in tr:
            self._spend(s, hour)

    def record_decision(self, i: int, d, n_lines: int, spent: list[tuple[int, int]] | None = None) -> None:
        """``record(i, d.rows, 0, moved=False)`` read from the decision's option, without
        building its rows (``online``'s path: a third of its time went to them). An option
        with unfilled lines goes through the rows, which count the order's own lines."""
        opt = d.option
        if opt.unfilled:
            self.record(i, d.rows, 0.0, moved=False, spent=spent)
            return
        if self.done[i]:
            raise RuntimeError(f"order {d.order_id} decided twice")
        self.done[i] = True
        self.lines[i] = n_lines
        pk = opt.packages
        self.packages[i] = len(pk)
        self.parcels[i] = opt.n_parcels
        self.transfers[i] = opt.n_transfers
        self.eta[i] = max(p.eta_min for p in pk) if pk else np.nan
        if spent is not None:
            for s, h in spent:
                self._spend(s, h)
            return
        for p in pk:
            self._spend(p.store, None)
            for b, _ in p.transfers:
                self._spend(b, None)

    def result(self, label, policy, batch, arrival, cfg, cap, hours, wall, replans) -> DayResult:
        c = cfg.cost
        promise = np.asarray(batch.promise_min, np.float64)
        eta = np.nan_to_num(self.eta, nan=0.0)
        cost = (c.per_minute * eta + c.per_package * self.packages + c.per_parcel * self.parcels
                + c.per_transfer * self.transfers
                + c.late_per_minute * np.maximum(0.0, eta - promise) * (self.packages > 0)
                + c.unfilled_per_line * self.unfilled + c.move_penalty * self.moved)
        net = self.net
        return DayResult(label, policy, np.asarray(batch.order_id, object), np.asarray(batch.lat, np.float64),
                         np.asarray(batch.lon, np.float64), promise, np.asarray(arrival, np.float64), self.eta.copy(),
                         self.lines.copy(), self.unfilled.copy(), self.packages.copy(), self.transfers.copy(),
                         self.parcels.copy(), self.moved.copy(), cost, np.asarray(net.store_ids, object),
                         net.lat.copy(), net.lon.copy(), np.asarray(net.kind, object), self.store_packages.copy(),
                         np.asarray(cap, np.float64), float(hours), float(wall), replans, dict(self.hour_packages),
                         *((self.rejected_lines.copy(), self.reroutes.copy(), self.first_cost.copy(),
                            self.first_on_time.copy()) if self.rejections else ()))


def plan_result(net: Network, batch: OrderBatch, rows, config: Config | None = None, label: str = "plan",
                wall_s: float = 0.0) -> DayResult:
    """A plan's rows (``omnifill reroute``) as a DayResult, for ``report``: every order
    decided at once, with no wait; moved where a row says so."""
    st = _Stats(net, len(batch))
    pos = {str(o): i for i, o in enumerate(batch.order_id)}
    by: dict[int, list] = {}
    for r in rows:
        by.setdefault(pos[str(r["order_id"])], []).append(r)
    for i in range(len(batch)):
        rs = by.get(i, [])
        st.record(i, rs, 0.0, moved=any((r.get("reason") or "").startswith("moved from") for r in rs))
    return st.result(label, "plan", batch, np.zeros(len(batch)), config or net.config, net.capacity, 1.0, wall_s, 0)


# --- a bench run ---------------------------------------------------------------------------------

def accept_rates(sc: Scenario, net: Network, default: float = 1.0) -> np.ndarray | None:
    """Per store of ``net``, the share of lines it accepts: its ``accept_rate`` in the
    scenario's stores table, else ``default`` for a store and 1 for a warehouse; None when
    every store accepts everything."""
    given = {str(sid): a for sid, a in zip(sc.stores["store_id"], sc.stores.get("accept_rate", []))
             if a is not None and a != "" and not (isinstance(a, float) and math.isnan(a))}
    rates = np.array([float(given[str(sid)]) if str(sid) in given else (default if k == "store" else 1.0)
                      for sid, k in zip(net.store_ids, net.kind)], np.float64)
    return None if (rates >= 1).all() else rates


def run_bench(sc: Scenario, out_dir, *, policies=("online",), what_ifs=(), config: Config | None = None,
              seed: int = 0, reroute_every: float = 15.0, hold_min: float = 5.0, time_limit_s: float = 2.0,
              max_errors: int = 100, log=None, progress=None, accept: float = 1.0,
              reject_delay: float = 10.0, reject_cost: float | None = None,
              hindsight_limit_s: float = 60.0, reprice_every: float = 60.0, forecast_scale: float = 1.0,
              price_limit_s: float = 30.0) -> dict:
    """The baseline and every what-if variant, each under every policy, on the same orders
    with the same seed; writes ``out_dir/kpis.json`` and ``out_dir/report.html`` (each to a
    temporary file renamed into place; the directory is created). Returns the kpis
    document. ``accept``: the share of lines a store without an ``accept_rate`` accepts;
    ``reject_delay``: the minutes before a rejected line is re-routed; ``reject_cost``:
    ``online+accept``'s expected cost of re-routing a line (``simulate``). A what-if that does
    not apply (an unknown store, say), or rejections under a policy that cannot have them,
    raise ValueError before anything runs."""
    from . import __version__
    from .io import json_default, write_text
    from .report import bench_report

    say = log or (lambda *a: None)
    variants = [("baseline", sc)]
    for spec in what_ifs:
        w = parse_what_if(spec) if isinstance(spec, str) else spec
        variants.append((w.spec, apply_what_if(sc, w)))
    built = []
    if not 0 <= accept <= 1:
        raise ValueError(f"--accept {accept!r}: the share of lines a store accepts, from 0 to 1")
    for name, v in variants:  # every network first: bad input stops the run before any simulation
        net = network_of(v, config, max_errors)
        batch, arrival = day_orders(v, net)
        rates = accept_rates(v, net, accept)
        no = [p for p in policies if p not in REJECTING_POLICIES]
        if rates is not None and no:
            raise ValueError(f"{name}: stores reject lines (accept rates below 1), which only "
                             f"{', '.join(REJECTING_POLICIES)} simulates; not policy {no[0]}")
        built.append((name, v, net, batch, arrival, rates))
    results = []
    params: dict[str, Any] = {"reroute_every_min": reroute_every, "hold_min": hold_min, "time_limit_s": time_limit_s}
    if any(b[5] is not None for b in built):
        params |= {"accept": accept, "reject_delay_min": reject_delay}
        if "online+accept" in policies:
            c = (config or built[0][2].config).cost
            params["reject_cost"] = (c.per_package + (c.per_minute + c.late_per_minute) * reject_delay
                                     if reject_cost is None else reject_cost)
    doc: dict[str, Any] = {"scenario": sc.name, "seed": seed, "policies": list(policies), "params": params,
           "versions": {"omnifill": __version__}, "runs": []}
    for name, _, net, batch, arrival, rates in built:
        for pol in policies:
            say(f"{name} / {pol}: {len(batch):,} orders, {batch.n_lines:,} lines, {len(net):,} stores")
            r = simulate(net, batch, arrival, config, policy=pol, reroute_every=reroute_every, hold_min=hold_min,
                         time_limit_s=time_limit_s, seed=seed, accept=rates, reject_delay=reject_delay,
                         reject_cost=reject_cost, hindsight_limit_s=hindsight_limit_s,
                         reprice_every=reprice_every, forecast_scale=forecast_scale, price_limit_s=price_limit_s,
                         label=name, progress=(lambda d, t, _n=f"{name} / {pol}": progress(_n, d, t))
                         if progress else None)
            results.append(r)
            doc["runs"].append({"variant": name, "policy": pol, "kpis": r.kpis()})
    if "online+prices" in policies:
        doc["params"] |= {"reprice_every_min": reprice_every, "forecast_scale": forecast_scale,
                          "price_limit_s": price_limit_s}
    if "hindsight" in policies:  # every run of a variant against that variant's hindsight plan
        doc["params"]["hindsight_limit_s"] = hindsight_limit_s
        hind = {run["variant"]: run["kpis"] for run in doc["runs"] if run["policy"] == "hindsight"}
        for run in doc["runs"]:
            h = hind[run["variant"]]
            cost, lb = run["kpis"]["total_cost"], h.get("hindsight_lower_bound")
            run["kpis"]["gap_to_hindsight"] = cost / h["total_cost"] - 1 if h["total_cost"] else None
            run["kpis"]["gap_to_hindsight_bound"] = cost / lb - 1 if lb else None
    base = {run["policy"]: run["kpis"] for run in doc["runs"] if run["variant"] == "baseline"}
    first = policies[0] if policies else None
    for run in doc["runs"]:
        # a variant against the baseline under the same policy; the baseline under another
        # policy against the baseline under the first (the policies compared)
        run["vs_baseline"] = _diff(run["kpis"], base[run["policy"]])
        if run["variant"] == "baseline" and run["policy"] != first:
            run["vs_first_policy"] = _diff(run["kpis"], base[first])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import json

    text = json.dumps(doc, indent=2, default=json_default) + "\n"
    html = bench_report(results, doc, title=f"omnifill bench: {sc.name}", config=config or net.config,
                        zones=built[0][2].zones.items() if built else None)
    write_text(out / "kpis.json", text)
    write_text(out / "report.html", html)
    return doc


DIFF_KEYS = ("on_time_rate", "eta_mean_min", "eta_p90_min", "packages_per_order", "transfers", "parcels",
             "unfilled_lines", "total_cost", "cost_per_order", "moved", "rejected_lines", "rejection_extra_cost",
             "gap_to_hindsight")


def _diff(k: dict, base: dict) -> dict:
    out = {}
    for key in DIFF_KEYS:
        a, b = k.get(key), base.get(key)
        if a is None or b is None:
            continue
        out[key] = {"delta": a - b, "relative": (a - b) / b if b else None}
    for tier, v in k.get("on_time_rate_by_tier", {}).items():
        b = base.get("on_time_rate_by_tier", {}).get(tier)
        if v is not None and b is not None:
            out[f"on_time_rate_{tier}"] = {"delta": v - b, "relative": (v - b) / b if b else None}
    return out


__all__ = ["MAX_REJECT_ROUNDS", "POLICIES", "REJECTING_POLICIES", "DayResult", "Scenario", "WhatIf", "accept_rates",
           "apply_what_if", "day_orders", "load_scenario", "network_of", "parse_what_if", "plan_result", "run_bench",
           "simulate"]
