"""The batch planner: one option per order for a whole backlog, chosen with OR-Tools CP-SAT.

``plan(network, orders)`` re-plans a backlog of open orders. Its options are the router's:
for each order, the k cheapest options of the DESIGN model under the full stock (the same
exact search, the same costs), plus the option the greedy router gave it, the option that
keeps it at its ``current_store``, and "nothing filled". The model picks one option per
order subject to the available stock of every (store, SKU) and the capacity of every store,
minimising the sum of the orders' DESIGN costs (``move_penalty`` added to options that take
an order off its current store).

Why CP-SAT: the model is a pure 0-1 program (one choice per order, knapsack rows for stock
and capacity), which is CP-SAT's home ground; it takes the greedy plan as a hint, keeps a
complete feasible plan at every moment, and is deterministic for a seed with one worker.

Bounds. ``lower_bound`` holds for the whole DESIGN option space: every order costs at least
its cheapest option under the full stock (the router's proven minimum), so their sum bounds
any plan. It ignores contention, so on contended backlogs it is loose. ``model_lower_bound``
is GLOP's LP relaxation of the model the solver sees (the listed options, plus per order a
column "another option" at the k-th listed cost): it sees contention, but bounds only plans
built from options the search enumerates at full stock. That is not every plan: when stock
is short, a store's line may have to come from another store of the same option, or from an
option the full-stock search skips as redundant (a transfer of lines the delivering store
also holds). Both are reported; ``gap`` uses the first.

Decomposition: a (store, SKU) or a store's capacity is contended when the options of all
orders together could ask for more than there is. Orders whose best option touches nothing
contended take it without entering the solver; the rest split into components (orders
linked through a contended resource), solved one by one. The plan is never worse than
greedy: each component keeps the greedy choice unless the solver found a cheaper one.

This module never reads files (io and cli do) and never changes the network.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass, field

import numpy as np

from .config import Config
from .geo import haversine_m
from .io import atomic_write, file_format, write_csv
from .model import Network, Order, OrderBatch
from .options import Option, Package, cost_breakdown, plan_rows
from .router import Router

COST_SCALE = 1000  # CP-SAT works in integers: costs in thousandths
PLAN_COLUMNS = ("order_id", "sku", "qty", "source_id", "mode", "via_id", "package", "eta_min", "promise_min",
                "on_time", "reason", "home_store")


@dataclass
class Plan:
    """A plan: ``rows`` in the DESIGN plan format (one per order line, orders in input
    order) and ``summary`` (objective, bound, gap, status, KPIs, timings, versions)."""

    rows: list[dict]
    summary: dict
    choices: list[Option] = field(repr=False, default_factory=list)

    def write(self, path) -> None:
        """CSV, Parquet or JSON Lines by the extension; a temporary file renamed into place."""
        fmt = file_format(path)
        cols = {k: [r.get(k) for r in self.rows] for k in PLAN_COLUMNS}
        if fmt == "csv":
            write_csv(path, {k: ["" if v is None else v for v in vals] for k, vals in cols.items()})
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(cols)
            atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        elif fmt in ("jsonl", "json"):
            import json

            def _w(tmp):
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.writelines(json.dumps({k: r.get(k) for k in PLAN_COLUMNS}) + "\n" for r in self.rows)

            atomic_write(path, _w)
        else:
            raise ValueError(f"{path}: the plan is written as .csv, .parquet or .jsonl")


@dataclass
class _Choice:
    """One order's candidate options in the model."""

    options: list[Option]
    costs: list[float]  # with move_penalty where the option moves the order
    uses: list[dict]  # per option: {(store, sku code): qty}
    stores: list[list[int]]  # per option: the stores spending a capacity unit
    other: float  # a lower bound on the cost of any option not listed
    greedy: int  # the position of the greedy router's option
    fixed: bool = False  # locked: only its current-store option


def plan(network: Network, orders, config: Config | None = None, *, time_limit_s: float = 60.0, seed: int = 0,
         policy: str = "optimal", executor=None, workers: int = 1, k: int = 8) -> Plan:
    """Re-plan a backlog. orders: an OrderBatch, a list of Order, or dicts in the order
    format. policy "greedy": the router in file order. "optimal": CP-SAT from the greedy
    hint, never worse than greedy. time_limit_s bounds the solver over all components;
    workers: CP-SAT search workers per component (1: the same seed gives the same plan).
    k: listed options per order."""
    if policy not in ("optimal", "greedy"):
        raise ValueError(f"policy must be 'optimal' or 'greedy', got {policy!r}")
    cfg = config or network.config
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    todo, locked, current = _orders_of(network, orders)
    n = len(todo)

    # greedy: the router in file order, locked orders first (they take their stock first)
    t = time.perf_counter()
    greedy_router = Router(network, cfg)
    greedy_opts: list[Option | None] = [None] * n
    for i in [i for i in range(n) if locked[i]] + [i for i in range(n) if not locked[i]]:
        o = todo[i]
        if locked[i]:
            opt = _stay_option(greedy_router, o, current[i], cfg, reserve=True)
        else:
            d = greedy_router.route(o)
            opt = d.option
        greedy_opts[i] = opt
    timings["greedy"] = time.perf_counter() - t

    status = "greedy"
    bound = model_bound = None
    choice = list(greedy_opts)
    alone: list = [None] * n
    n_solver = n_components = 0
    if policy == "optimal" and n:
        t = time.perf_counter()
        full = Router(network, cfg)
        choices = [_choices_of(full, todo[i], greedy_opts[i], current[i], locked[i], cfg, k) for i in range(n)]
        alone = [ch.options[0] for ch in choices]
        timings["options"] = time.perf_counter() - t
        t = time.perf_counter()
        avail, cap = _resources(full, network)
        # a bound for the whole option space: every order costs at least its own cheapest
        # option (the router's exact minimum under the full stock); and the LP bound of the
        # model the solver sees (the listed options)
        bound = sum(min(ch.costs) for ch in choices)
        model_bound = _lp_bound(choices, avail, cap)
        timings["bound"] = time.perf_counter() - t
        t = time.perf_counter()
        comps, fixed_best = _decompose(choices, avail, cap)
        for i in fixed_best:
            choice[i] = choices[i].options[0]
        n_components = len(comps)
        n_solver = sum(len(c) for c in comps)
        statuses = []
        deadline = time.perf_counter() + time_limit_s
        for comp in sorted(comps, key=len, reverse=True):
            left = max(0.1, deadline - time.perf_counter())
            picks, st = _solve(comp, choices, avail, cap, left * len(comp) / max(1, n_solver), seed, workers)
            statuses.append(st)
            for i, j in zip(comp, picks):
                choice[i] = choices[i].options[j]
        status = _worst(statuses) if statuses else "OPTIMAL"
        timings["solve"] = time.perf_counter() - t
        choice_costs = [_cost_with_move(c, o_cur, cfg) for c, o_cur in zip(choice, current)]
    else:
        choice_costs = [_cost_with_move(c, o_cur, cfg) for c, o_cur in zip(choice, current)]

    t = time.perf_counter()
    rows = []
    for i, o in enumerate(todo):
        rows.extend(_rows_of(o, choice[i], current[i], network, cfg, alone[i]))
    timings["rows"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    greedy_cost = sum(_cost_with_move(g, c, cfg) for g, c in zip(greedy_opts, current))
    summary = _summary(todo, rows, choice, choice_costs, current, cfg, bound, model_bound, status, greedy_cost,
                       timings, n_solver, n_components, policy)
    return Plan(rows, summary, choice)


def model_options(network: Network, orders, config: Config | None = None, *, k: int = 8) -> list[list[Option]]:
    """Per order, the options the optimal policy chooses among (its model): the k cheapest
    under the full stock, the greedy router's, the one keeping the current store, nothing."""
    cfg = config or network.config
    todo, locked, current = _orders_of(network, orders)
    greedy_router = Router(network, cfg)
    greedy_opts = [None] * len(todo)
    for i in [i for i in range(len(todo)) if locked[i]] + [i for i in range(len(todo)) if not locked[i]]:
        greedy_opts[i] = (_stay_option(greedy_router, todo[i], current[i], cfg, reserve=True) if locked[i]
                          else greedy_router.route(todo[i]).option)
    full = Router(network, cfg)
    return [_choices_of(full, todo[i], greedy_opts[i], current[i], locked[i], cfg, k).options
            for i in range(len(todo))]


# --- inputs -----------------------------------------------------------------------------------

def _orders_of(network: Network, orders):
    if isinstance(orders, OrderBatch):
        todo = [Order.from_batch(orders, i, network.store_ids) for i in range(len(orders))]
        locked = [bool(v) for v in orders.locked]
        current = [int(v) for v in orders.current_store]
    else:
        todo = [o if isinstance(o, Order) else Order.from_dict(o) for o in orders]
        locked = [False] * len(todo)
        current = [-1] * len(todo)
    for i in range(len(todo)):
        if locked[i] and current[i] < 0:
            locked[i] = False  # nothing to keep: a locked order with no current store is planned
    return todo, locked, current


# --- options ------------------------------------------------------------------------------------

def _stay_option(router: Router, o: Order, store: int, cfg: Config, *, reserve: bool) -> Option:
    """The option that keeps order o at ``store``: the lines it holds, in its one package
    (a pickup there when the order is a pickup); the rest unfilled. Reserved when asked."""
    skus = list(dict.fromkeys(s for s, _ in o.lines))
    qty = {}
    for s, q in o.lines:
        qty[s] = qty.get(s, 0) + q
    codes = np.array([router._sku_code.get(s, -1) for s in skus], np.int32)
    q = np.array([qty[s] for s in skus], np.int64)
    net = router.network
    if o.mode == "pickup" or not (net.kind[store] == "store" and net.delivers[store]):
        eta = float(net.handling_min[store])
    else:
        d = haversine_m(net.lat[store], net.lon[store], o.lat, o.lon)
        eta = float(net.handling_min[store] + cfg.travel.circuity * d / cfg.travel.courier_m_per_min)
    mask = int(router._search.line_masks([store], codes, q)[0]) if len(skus) <= 64 else 0
    lines = tuple(j for j in range(len(skus)) if (mask >> j) & 1)
    kind = "pickup" if o.mode == "pickup" else "deliver"
    pk = (Package(store, kind, eta, lines),) if lines else ()
    unfilled = tuple(j for j in range(len(skus)) if j not in lines)
    br = cost_breakdown(cfg, o.promise_min, eta if pk else 0.0, len(pk), 0, 0, len(unfilled))
    opt = Option(br["total"], eta if pk else 0.0, pk, unfilled, br)
    if reserve and lines:
        src = np.array([store if j in lines else -1 for j in range(len(skus))], np.int32)
        with router._lock:
            router._search.take(src, codes, q, router._reserved, 1)
            router._search.spend([store], router._cap_left, router._closed_u8, router._status, 1)
    return opt


def _choices_of(full: Router, o: Order, greedy: Option, cur: int, locked: bool, cfg: Config, k: int) -> _Choice:
    skus = list(dict.fromkeys(s for s, _ in o.lines))
    codes = [full._sku_code.get(s, -1) for s in skus]
    qty: dict[str, int] = {}
    for s, q in o.lines:
        qty[s] = qty.get(s, 0) + q
    if locked:
        opts = [greedy]
        other = math.inf
    else:
        if len(skus) <= 64:
            opts = full.options(o, k)
            other = opts[-1].cost if len(opts) >= k else math.inf
        else:
            opts, other = [], math.inf
        keys = {_key(x) for x in opts}
        extra = [greedy]
        if cur >= 0:
            extra.append(_stay_option(full, o, cur, cfg, reserve=False))
        extra.append(Option(cfg.cost.unfilled_per_line * len(skus), 0.0, (), tuple(range(len(skus))),
                            cost_breakdown(cfg, o.promise_min, 0.0, 0, 0, 0, len(skus))))
        for x in extra:
            if _key(x) not in keys:
                keys.add(_key(x))
                opts.append(x)
    uses, stores = [], []
    for x in opts:
        u: dict = {}
        for st, j in x.sources():
            u[(st, codes[j])] = u.get((st, codes[j]), 0) + qty[skus[j]]
        uses.append(u)
        stores.append(x.stores())
    costs = [_cost_with_move(x, cur, cfg) for x in opts]
    order = sorted(range(len(opts)), key=lambda j: (costs[j], j))
    gk = _key(greedy)
    g = next(j for j, x in enumerate(opts) if _key(x) == gk)
    return _Choice([opts[j] for j in order], [costs[j] for j in order], [uses[j] for j in order],
                   [stores[j] for j in order], min(other, min(costs)) if not locked else math.inf,
                   order.index(g), locked)


def _key(x: Option):
    return tuple(sorted((p.kind, p.store, p.lines, p.transfers) for p in x.packages))


def _moved(x: Option, cur: int) -> bool:
    # an order stays when every filled line ships in its current store's package
    if cur < 0 or not x.packages:
        return False
    return not (len(x.packages) == 1 and x.packages[0].store == cur)


def _cost_with_move(x: Option, cur: int, cfg: Config) -> float:
    return x.cost + (cfg.cost.move_penalty if _moved(x, cur) else 0.0)


def _resources(router: Router, network: Network):
    """Available units per (store, sku code) and capacity per store, at the start."""
    tab_store = np.repeat(np.arange(len(network)), np.diff(router._indptr))
    avail = {}
    for s, code, a in zip(tab_store.tolist(), router._sku.tolist(), router._avail.tolist()):
        avail[(s, code)] = max(0, a)
    cap = {s: float(c) for s, c in enumerate(router._cap_left.tolist())}
    return avail, cap


# --- decomposition, model, bound -------------------------------------------------------------------

def _decompose(choices: list[_Choice], avail: dict, cap: dict):
    """Components of orders linked by contended resources; orders whose best option touches
    none of them are fixed to it."""
    demand: dict = {}
    cap_demand: dict = {}
    for ch in choices:
        most: dict = {}
        for u in ch.uses:
            for r, q in u.items():
                most[r] = max(most.get(r, 0), q)
        for r, q in most.items():
            demand[r] = demand.get(r, 0) + q
        for s in {s for ss in ch.stores for s in ss}:
            cap_demand[s] = cap_demand.get(s, 0) + 1
    hot = {r for r, q in demand.items() if q > avail.get(r, 0)}
    hot_cap = {s for s, q in cap_demand.items() if q > cap.get(s, math.inf)}
    fixed = []
    rest = []
    for i, ch in enumerate(choices):
        if ch.fixed:
            rest.append(i)
            continue
        if not (set(ch.uses[0]) & hot) and not (set(ch.stores[0]) & hot_cap):
            fixed.append(i)
        else:
            rest.append(i)
    parent = {i: i for i in rest}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict = {}
    for i in rest:
        ch = choices[i]
        touched = {("r",) + r for u in ch.uses for r in u if r in hot}
        touched |= {("c", s) for ss in ch.stores for s in ss if s in hot_cap}
        for key in touched:
            if key in owner:
                a, b = find(i), find(owner[key])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[key] = i
    comps: dict = {}
    for i in rest:
        comps.setdefault(find(i), []).append(i)
    # resources the fixed orders take are gone before the components are solved
    for i in fixed:
        for r, q in choices[i].uses[0].items():
            avail[r] = avail.get(r, 0) - q
        for s in choices[i].stores[0]:
            cap[s] = cap.get(s, math.inf) - 1
    return sorted(comps.values(), key=lambda c: c[0]), fixed


def _solve(comp: list[int], choices: list[_Choice], avail: dict, cap: dict, time_limit: float, seed: int,
           workers: int):
    """CP-SAT on one component; returns each order's option position and the status. Never
    returns a plan costlier than the greedy choices of the component."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    x = {}
    by_res: dict = {}
    by_cap: dict = {}
    obj = []
    for i in comp:
        ch = choices[i]
        vs = []
        for j in range(len(ch.options)):
            v = m.NewBoolVar(f"x{i}_{j}")
            x[i, j] = v
            vs.append(v)
            obj.append(round(ch.costs[j] * COST_SCALE) * v)
            for r, q in ch.uses[j].items():
                by_res.setdefault(r, []).append((q, v))
            for s in ch.stores[j]:
                by_cap.setdefault(s, []).append(v)
            m.AddHint(v, j == ch.greedy)
        m.AddExactlyOne(vs)
    for r, terms in by_res.items():
        if sum(q for q, _ in terms) > avail.get(r, 0):
            m.Add(sum(q * v for q, v in terms) <= max(0, avail.get(r, 0)))
    for s, vs in by_cap.items():
        c = cap.get(s, math.inf)
        if math.isfinite(c) and len(vs) > c:
            m.Add(sum(vs) <= int(max(0, c)))
    m.Minimize(sum(obj))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(max(0.05, time_limit))
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = int(max(1, workers))
    st = solver.Solve(m)
    greedy = [choices[i].greedy for i in comp]
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        picks = [next(j for j in range(len(choices[i].options)) if solver.BooleanValue(x[i, j])) for i in comp]
        if sum(choices[i].costs[j] for i, j in zip(comp, picks)) <= sum(
                choices[i].costs[j] for i, j in zip(comp, greedy)) + 1e-9:
            name = "OPTIMAL" if st == cp_model.OPTIMAL else "FEASIBLE"
        else:
            picks, name = greedy, "FEASIBLE"
    else:
        picks, name = greedy, solver.StatusName(st)
    # take the component's resources
    for i, j in zip(comp, picks):
        for r, q in choices[i].uses[j].items():
            avail[r] = avail.get(r, 0) - q
        for s in choices[i].stores[j]:
            cap[s] = cap.get(s, math.inf) - 1
    return picks, name


def _worst(statuses: list[str]) -> str:
    for s in ("MODEL_INVALID", "UNKNOWN", "FEASIBLE"):
        if s in statuses:
            return s
    return "OPTIMAL"


def _lp_bound(choices: list[_Choice], avail: dict, cap: dict) -> float:
    """GLOP on the LP relaxation, with an "any other option" column per order (see module)."""
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver("GLOP")
    by_res: dict = {}
    by_cap: dict = {}
    obj = s.Objective()
    for i, ch in enumerate(choices):
        row = s.Constraint(1.0, 1.0)
        for j in range(len(ch.options)):
            v = s.NumVar(0.0, 1.0, "")
            row.SetCoefficient(v, 1.0)
            obj.SetCoefficient(v, ch.costs[j])
            for r, q in ch.uses[j].items():
                by_res.setdefault(r, []).append((q, v))
            for st in ch.stores[j]:
                by_cap.setdefault(st, []).append(v)
        if math.isfinite(ch.other):
            v = s.NumVar(0.0, 1.0, "")
            row.SetCoefficient(v, 1.0)
            obj.SetCoefficient(v, ch.other)
    for r, terms in by_res.items():
        if sum(q for q, _ in terms) > avail.get(r, 0):
            c = s.Constraint(-s.infinity(), float(max(0, avail.get(r, 0))))
            for q, v in terms:
                c.SetCoefficient(v, float(q))
    for st, vs in by_cap.items():
        cp = cap.get(st, math.inf)
        if math.isfinite(cp) and len(vs) > cp:
            c = s.Constraint(-s.infinity(), float(max(0, cp)))
            for v in vs:
                c.SetCoefficient(v, 1.0)
    obj.SetMinimization()
    if s.Solve() != pywraplp.Solver.OPTIMAL:
        return float("nan")
    return float(obj.Value())


# --- rows and summary --------------------------------------------------------------------------------

def _rows_of(o: Order, x: Option, cur: int, network: Network, cfg: Config, alone: Option | None) -> list[dict]:
    """The order's rows. Unfilled lines say why: no store stocks the SKU; the stock went to
    other orders (the order alone, with the full stock, would have had it); or no store that
    could serve the order holds enough."""
    skus = list(dict.fromkeys(s for s, _ in o.lines))
    pos = {s: j for j, s in enumerate(skus)}
    line_of = [pos[s] for s, _ in o.lines]
    codes = network.inventory.codes(skus)
    had = set() if alone is None else {j for p in alone.packages for j in p.lines} | {
        j for p in alone.packages for _, ls in p.transfers for j in ls}
    reasons = {j: ("sku_not_stocked" if codes[j] < 0 else "stock_contended" if j in had else "no_stock_in_reach")
               for j in x.unfilled}
    rows = plan_rows(x, o.order_id, [s for s, _ in o.lines], [q for _, q in o.lines], line_of, o.promise_min,
                     network.store_ids, o.home_store, reasons)
    if _moved(x, cur):
        for r in rows:
            if r["mode"] != "unfilled":
                r["reason"] = f"moved from {network.store_ids[cur]}"
    return rows


def _summary(todo, rows, choice, costs, current, cfg, bound, model_bound, status, greedy_cost, timings, n_solver,
             n_comp, policy) -> dict:
    import ortools

    from . import __version__

    objective = float(sum(costs))
    n = len(todo)
    tiers: dict = {}
    for o, x in zip(todo, choice):
        t = tiers.setdefault(f"{o.promise_min:g}", [0, 0])
        t[0] += 1
        t[1] += bool(x.packages) and x.eta_min <= o.promise_min + 1e-9
    gap = model_gap = None
    if bound is not None and math.isfinite(bound) and objective > 0:
        gap = max(0.0, (objective - bound) / objective)
    if model_bound is not None and math.isfinite(model_bound) and objective > 0:
        model_gap = max(0.0, (objective - model_bound) / objective)
    return {
        "policy": policy,
        "objective": objective,
        "lower_bound": bound,
        "gap": gap,
        "model_lower_bound": model_bound,
        "model_gap": model_gap,
        "solver_status": status,
        "greedy_objective": greedy_cost,
        "orders_in": n, "orders_out": len({r["order_id"] for r in rows}),
        "lines_in": sum(len(o.lines) for o in todo), "lines_out": len(rows),
        "on_time_rate": {k: v[1] / v[0] for k, v in sorted(tiers.items())},
        "packages_per_order": sum(len(x.packages) for x in choice) / max(1, n),
        "transfers": sum(x.n_transfers for x in choice),
        "parcels": sum(x.n_parcels for x in choice),
        "unfilled_lines": sum(r["mode"] == "unfilled" for r in rows),
        "moved": sum(_moved(x, c) for x, c in zip(choice, current)),
        "orders_in_solver": n_solver, "components": n_comp,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "versions": {"omnifill": __version__, "ortools": ortools.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    }


__all__ = ["Plan", "model_options", "plan"]
