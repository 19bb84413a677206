"""The batch planner: one option per order for a whole backlog, chosen with OR-Tools.

``plan(network, orders)`` re-plans a backlog of open orders. Its options are the router's:
for each order, the k cheapest options of the DESIGN model under the full stock (the same
exact search, the same costs), plus the option the greedy router gave it, the option that
keeps it at its ``current_store``, and "nothing filled". The model picks one option per
order subject to the available stock of every (store, SKU) and the capacity of every store,
minimising the sum of the orders' DESIGN costs (``move_penalty`` added to options that take
an order off its current store).

Why two solvers, both through OR-Tools: the model is a pure 0-1 program (one choice per order
and per line, knapsack rows for stock and capacity). CP-SAT takes the greedy plan as a hint,
improves it fast, keeps a complete feasible plan at every moment and is deterministic for a
seed with one worker (its limit is deterministic time). But on thin stock its single worker
stalls a few percent above the optimum, where an LP-based branch and bound (HiGHS, through
OR-Tools' MIP interface) proves the optimum of a 300-order component in about 30 s. So each
component gets CP-SAT, then HiGHS, then CP-SAT again if HiGHS did not finish (``_solve``).

Options and sourcing. An option fixes an order's stores (packages, transfers) and so its
cost; which of its stores a line's units come from is the solver's choice (any store of the
option holding the line at full stock, or none at ``unfilled_per_line``), as long as every
package and transfer carries a line. The listed options are the k cheapest *sets* of stores
in which every store holds some line, including sets where a store's lines are all held by
another store of the set too: with full stock they are never best, but when another order
takes that store's units they are the ones that still work (a test builds such a case).

Bounds. Every option not listed costs at least the k-th listed one (the search returns the
k cheapest, or says it did not finish), so the LP relaxation of the model with one more
column per order, "another option" at that cost and using nothing, bounds every plan of the
DESIGN model; so does the sum of each order's cheapest option. ``lower_bound`` is the larger
(GLOP solves the LP); ``gap = (objective - lower_bound) / objective``.

Decomposition: a (store, SKU) or a store's capacity is contended when the options of all
orders together could ask for more than there is. Orders whose best option touches nothing
contended take it without entering the solver; the rest split into components (orders
linked through a contended resource), solved apart, through ``executor`` when one is given. The plan is never worse than
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
from .errors import InputError, Problem
from .geo import haversine_m
from .io import atomic_write, file_format, write_csv
from .model import Network, Order, OrderBatch
from .options import (
    MAX_EXACT_LINES,
    Option,
    Package,
    cost_breakdown,
    merge_lines,
    option_from_search,
    plan_rows,
)
from .router import Router

COST_SCALE = 1000  # CP-SAT works in integers: costs in thousandths
# The solver's stages and their shares of the time limit: line sources fixed to the search's,
# then free where stock is short (see _solve)
STAGES = (("cp-sat", False, 0.3), ("mip", True, 0.5), ("cp-sat", True, 0.2))
# The option search's budget per order in the planner (the router's is 2,000,000 nodes): the
# planner's "all subsets" lists grow fast with an order's lines, and on thin stock one 31-line
# Shanghai basket took 29 s at the router's budget; at this one 300 such orders take 2.6 s,
# 7 of them unproven (their options are still options; the bound then takes their cheapest)
PLAN_NODE_LIMIT = 200_000
# A component's whole model above this many columns is left to CP-SAT: HiGHS would not prove
# it optimal in its share of the time, and building it costs seconds
MIP_MAX_COLUMNS = 200_000
# The share of the time limit the LP bounds may take (GLOP, time-limited)
LP_SHARE = 0.25
# A component of more orders than this gets no LP bound: building GLOP's model alone took 19 s
# for one of 18,915 orders, and the LP did not finish in its share
LP_MAX_ORDERS = 4000
# Components of more orders than this are solved a block of this many orders at a time
# (_solve_blocks); HiGHS takes part only where a stage has at least MIP_MIN_TIME seconds
BLOCK = 400
MIP_MIN_TIME = 1.0
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
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise InputError([Problem(str(path), None, None, None,
                                          "writing Parquet needs pyarrow: pip install 'omnifill[io]'")]) from None

            table = pa.table(cols)
            atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        elif fmt in ("jsonl", "json"):
            import json

            def _w(tmp):
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.writelines(json.dumps({k: r.get(k) for k in PLAN_COLUMNS}) + "\n" for r in self.rows)

            atomic_write(path, _w)
        else:
            check_plan_path(path)


def check_plan_path(path) -> None:
    """An InputError unless the plan can be written to ``path`` (by its extension)."""
    if file_format(path) not in ("csv", "parquet", "jsonl", "json"):
        raise InputError([Problem(str(path), None, None, None, "the plan is written as .csv, .parquet or .jsonl")])


@dataclass
class _Choice:
    """One order's candidate options in the model.

    An option fixes the stores (packages, transfers) and so the cost; which of its stores a
    line's units come from is the solver's (any store of the option that holds the line, or
    none, at unfilled_per_line), as long as every package and every transfer carries a line.
    Options are kept as the kernel gave them (a (cost, eta, elements) tuple) or as an
    ``Option``; ``option(j)`` builds the ``Option`` of the one the plan takes.
    """

    opts: list  # per option: an Option, or the search's (cost, eta, elements)
    costs: list[float]  # every line it covers filled; move_penalty where it moves the order
    lines: list[list[tuple[int, list[int]]]]  # per option: (line, the option's stores holding it)
    groups: list[list[list[int]]]  # per option: per package / transfer, the stores whose lines keep it
    stores: list[list[int]]  # per option: the stores spending a capacity unit
    srcs: list[dict[int, int]]  # per option: the search's own source of each filled line
    codes: list[int]  # per (merged) line: SKU code
    qty: list[int]
    other: float  # a lower bound on the cost of any option not listed
    greedy: int  # the position of the greedy router's option
    fixed: bool = False  # locked: only its current-store option
    pickup: int = -1
    promise: float = 0.0
    keys: list = field(default_factory=list)  # per option: its identity (packages, transfers, lines)

    def sourcing(self, j: int) -> dict[int, int | None]:
        """Option j's own line sources (the search's), as {line: store}."""
        return dict(self.srcs[j])

    def option(self, j: int, cfg: Config) -> Option:
        x = self.opts[j]
        if not isinstance(x, Option):
            x = self.opts[j] = option_from_search(x, len(self.codes), self.pickup, cfg, self.promise)
        return x


def plan(network: Network, orders, config: Config | None = None, *, time_limit_s: float = 60.0, seed: int = 0,
         policy: str = "optimal", executor=None, workers: int = 1, k: int = 8, k_avoid: int = 3,
         search_threads: int = 1, progress=None) -> Plan:
    """Re-plan a backlog. orders: an OrderBatch, a list of Order, or dicts in the order
    format. policy "greedy": the router in file order. "optimal": CP-SAT from the greedy
    hint, never worse than greedy. time_limit_s bounds the solver over all components (each
    its share by size), split between its stages (``_solve``): CP-SAT's in its deterministic
    time (about seconds; the wall clock caps it at twice that), HiGHS's in wall seconds, its
    answer taken only when proven optimal (so the plan does not depend on the clock, only on
    whether HiGHS finished);
    executor: a concurrent.futures Executor solving components at once (in-process when
    None; the plan does not depend on it); workers: CP-SAT search workers per component
    (1: the same seed gives the same plan). k: listed options per order (the cheapest under the full stock); k_avoid: options per order
    that avoid all short stock, added for orders that compete for it. search_threads: threads
    for the option search (the kernel runs without the GIL; the options do not depend on
    it). progress: called
    as progress(stage, done, total) as the stages advance (greedy, options, solve)."""
    if policy not in ("optimal", "greedy"):
        raise ValueError(f"policy must be 'optimal' or 'greedy', got {policy!r}")
    cfg = config or network.config
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    todo, locked, current = _orders_of(network, orders)
    n = len(todo)

    t = time.perf_counter()
    tick = progress or (lambda *a: None)
    greedy_opts = _greedy(network, cfg, todo, locked, current, tick)
    timings["greedy"] = time.perf_counter() - t

    status = "greedy"
    bound = model_bound = None
    choice = list(greedy_opts)
    alone: list = [None] * n
    n_solver = n_components = largest = 0
    if policy == "optimal" and n:
        t = time.perf_counter()
        choices, avail, cap, hot, hot_cap = _model(network, cfg, todo, greedy_opts, current, locked, k, k_avoid,
                                                    tick, search_threads)
        alone = choices
        timings["options"] = time.perf_counter() - t
        t = time.perf_counter()
        avail0, cap0 = avail.copy(), dict(cap)
        comps, fixed_best = _decompose(choices, avail, cap, hot, hot_cap)
        timings["decompose"] = time.perf_counter() - t
        t = time.perf_counter()
        # two bounds for the whole option space (the module's docstring): each order's
        # cheapest option, summed; and the LP relaxation of the model, which splits like the
        # model: an order whose best option touches no short resource takes it in the LP too,
        # and components share no short resource, so each has its own (smaller) LP
        bound = sum(min(ch.other, min(ch.costs)) for ch in choices)
        fixed_cost = sum(min(choices[i].costs) for i in fixed_best)
        # GLOP gets a quarter of the time limit, shared by size; a component whose LP does not
        # finish in its share has no bound (NaN)
        in_comps = max(1, sum(len(c) for c in comps))
        lp_time = [LP_SHARE * time_limit_s * len(c) / in_comps for c in comps]
        comp_lp = [_lp_bound([choices[i] for i in comp], avail0, cap0, cfg.cost.unfilled_per_line, hot,
                             time_limit=lp_time[c]) if len(comp) <= LP_MAX_ORDERS else math.nan
                   for c, comp in enumerate(comps)]
        comp_lp = [b if math.isfinite(b) else -math.inf for b in comp_lp]
        full_bound = fixed_cost + sum(comp_lp)
        if math.isfinite(full_bound):
            bound = max(bound, full_bound)
        # the bound on the model (the listed options only), added as the components are
        # solved: the solvers' own (HiGHS's is at least the LP relaxation's), else the LP
        # without the "other option" columns
        model_bound = fixed_cost
        timings["bound"] = time.perf_counter() - t
        t = time.perf_counter()
        for i in fixed_best:
            choice[i] = choices[i].option(0, cfg)
        n_components = len(comps)
        largest = max((len(c) for c in comps), default=0)
        n_solver = sum(len(c) for c in comps)
        statuses = []
        # components share no short resource, so they are solved apart, through the executor
        # when one is given (only plain data crosses to it: options, stock and capacity left)
        tasks = []
        for comp in comps:
            sub = [choices[i] for i in comp]
            touched = {(st, ch.codes[ln]) for ch in sub for ls in ch.lines for ln, h in ls for st in h}
            args = (sub, {r: avail.get(r, 0) for r in touched}, {st: cap.get(st, math.inf) for ch in sub
                                                                 for ss in ch.stores for st in ss},
                    # each component's share of the limit by its size, not by the clock, so
                    # that the same seed gives the same plan
                    time_limit_s * len(comp) / max(1, n_solver), seed, workers, cfg.cost.unfilled_per_line,
                    hot & touched)
            fn = _solve if len(comp) <= BLOCK else _solve_blocks
            tasks.append(executor.submit(fn, *args) if executor is not None else (fn, args))
        for c, (comp, task) in enumerate(zip(comps, tasks)):
            tick("solve", c, len(comps))
            picks, st, cp_bound = task.result() if executor is not None else task[0](*task[1])
            statuses.append(st)
            if not math.isfinite(cp_bound) and len(comp) <= LP_MAX_ORDERS:
                cp_bound = _lp_bound([choices[i] for i in comp], avail0, cap0, cfg.cost.unfilled_per_line, hot,
                                     False, time_limit=lp_time[c])
            model_bound += cp_bound if math.isfinite(cp_bound) else -math.inf
            for i, (j, src) in zip(comp, picks):
                choice[i] = _resourced(choices[i].option(j, cfg), src, todo[i].promise_min, cfg)
        tick("solve", len(comps), len(comps))
        status = _worst(statuses) if statuses else "OPTIMAL"
        timings["solve"] = time.perf_counter() - t
    choice_costs = [_cost_with_move(c, o_cur, cfg) for c, o_cur in zip(choice, current)]

    t = time.perf_counter()
    rows = []
    for i, o in enumerate(todo):
        rows.extend(_rows_of(o, choice[i], current[i], network, cfg, alone[i]))
    timings["rows"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    greedy_cost = sum(_cost_with_move(g, c, cfg) for g, c in zip(greedy_opts, current))
    summary = _summary(todo, rows, choice, choice_costs, current, cfg, bound, model_bound, status, greedy_cost,
                       timings, n_solver, n_components, policy, largest)
    return Plan(rows, summary, choice)


def model_options(network: Network, orders, config: Config | None = None, *, k: int = 8,
                  k_avoid: int = 3) -> list[list[Option]]:
    """Per order, the options the optimal policy chooses among (its model): the k cheapest
    under the full stock, the k_avoid cheapest avoiding short stock (for orders that compete
    for it), the greedy router's, the one keeping the current store, nothing."""
    cfg = config or network.config
    todo, locked, current = _orders_of(network, orders)
    greedy_opts = _greedy(network, cfg, todo, locked, current, lambda *a: None)
    chs = _model(network, cfg, todo, greedy_opts, current, locked, k, k_avoid, lambda *a: None)[0]
    return [[ch.option(j, cfg) for j in range(len(ch.costs))] for ch in chs]


def _model(network: Network, cfg: Config, todo, greedy_opts, current, locked, k: int, k_avoid: int, tick,
           threads: int = 1):
    """Every order's choice, the stock and capacity at the start, and the short resources."""
    full = Router(network, cfg)
    choices = _all_choices(full, todo, greedy_opts, current, locked, cfg, k, tick, threads)
    avail, cap = _resources(full, network)
    hot, hot_cap = _contended(choices, avail, cap)
    # the ways around short stock; they add demand elsewhere, so contention is worked out
    # again with them
    if hot and k_avoid > 0 and _add_avoiding(network, cfg, todo, choices, current, hot, k_avoid, threads):
        hot, hot_cap = _contended(choices, avail, cap)
    return choices, avail, cap, hot, hot_cap


def export_model(network: Network, orders, config: Config | None = None, *, k: int = 8,
                 k_avoid: int = 3) -> tuple[LinearModel, float]:
    """The optimal policy's whole model as one 0-1 program, for checking the planner with
    another solver: (the model of every order that enters the solver, with every line's
    source free where stock is short; the cost of the orders fixed to their best option).
    Its optimum plus that cost is the best plan of the model."""
    cfg = config or network.config
    todo, locked, current = _orders_of(network, orders)
    greedy_opts = _greedy(network, cfg, todo, locked, current, lambda *a: None)
    choices, avail, cap, hot, hot_cap = _model(network, cfg, todo, greedy_opts, current, locked, k, k_avoid,
                                               lambda *a: None)
    comps, fixed = _decompose(choices, avail, cap, hot, hot_cap)
    sub = [choices[i] for c in comps for i in c]
    return (linear_model(sub, avail, cap, cfg.cost.unfilled_per_line, hot, True),
            float(sum(choices[i].costs[0] for i in fixed)))


def _all_choices(full: Router, todo, greedy_opts, current, locked, cfg: Config, k: int, tick,
                 threads: int = 1) -> list[_Choice]:
    """Every order's choice; the options of all orders from one bulk kernel search (per city)."""
    n = len(todo)
    tick("options", 0, n)
    bulk = full.options_bulk(todo, k, all_subsets=True, threads=threads, node_limit=PLAN_NODE_LIMIT)
    tick("options", n // 2, n)
    out = []
    for i, o in enumerate(todo):
        codes, qty = bulk.codes(i).tolist(), bulk.qty(i).tolist()
        if not bulk.searched[i]:  # not searched: its merged lines here
            skus, qty, _ = merge_lines([s for s, _ in o.lines], [q for _, q in o.lines])
            codes = [full._sku_code.get(s_, -1) for s_ in skus]
        # an order not searched: a pickup where none is offered (nothing is its one option),
        # or one of more than 64 SKUs (its options are only greedy's, its current store's, none)
        proven = bool(bulk.proven[i]) if bulk.searched[i] else len(codes) <= MAX_EXACT_LINES
        out.append(_choices_of(bulk.found(i) if bulk.searched[i] else [], proven, o, codes, qty,
                               int(bulk.pickup[i]), greedy_opts[i], current[i], locked[i], cfg, k, full))
    tick("options", n, n)
    return out


def _greedy(network: Network, cfg: Config, todo, locked, current, tick) -> list[Option]:
    """The greedy baseline: the router in file order, locked orders first (they keep their
    current store and take their stock first)."""
    n = len(todo)
    router = Router(network, cfg)
    out: list = [None] * n
    for done, i in enumerate([i for i in range(n) if locked[i]] + [i for i in range(n) if not locked[i]]):
        if done % 500 == 0:
            tick("greedy", done, n)
        out[i] = (_stay_option(router, todo[i], current[i], cfg, reserve=True) if locked[i]
                  else router.route(todo[i]).option)
    tick("greedy", n, n)
    return out


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
    skus, qtys, _ = merge_lines([s for s, _ in o.lines], [q for _, q in o.lines])
    codes = np.array([router._sku_code.get(s, -1) for s in skus], np.int32)
    q = np.array(qtys, np.int64)
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


def _choices_of(found: list, proven: bool, o: Order, codes, qtys, pickup: int, greedy: Option, cur: int,
                locked: bool, cfg: Config, k: int, full: Router) -> _Choice:
    """Order o's choice: the search's options (found, as the kernel gave them), the greedy
    router's option, the one keeping the current store, and nothing filled."""
    n_lines = len(codes)
    opts: list = []
    structs: list = []
    keys: set = set()
    if locked:
        other = math.inf
        xs = [greedy]
    else:
        for f in found[:k]:
            st = _struct_found(f[2], pickup)
            if st[0] not in keys:
                keys.add(st[0])
                opts.append(f)
                structs.append(st)
        if not proven:
            # the search stopped early (or an order beyond 64 SKUs was not searched): nothing
            # is known of the options not listed, not even that they cost more
            other = 0.0
        else:
            # any option not listed costs at least the k-th listed
            other = found[k - 1][0] if len(found) >= k else math.inf
        xs = [greedy]
        if cur >= 0:
            xs.append(_stay_option(full, o, cur, cfg, reserve=False))
        xs.append(Option(cfg.cost.unfilled_per_line * n_lines, 0.0, (), tuple(range(n_lines)),
                         cost_breakdown(cfg, o.promise_min, 0.0, 0, 0, 0, n_lines)))
    for x in xs:
        st = _struct_option(x)
        if st[0] not in keys:
            keys.add(st[0])
            opts.append(x)
            structs.append(st)
    costs = [(x.cost if isinstance(x, Option) else x[0])
             + (cfg.cost.move_penalty if _moved_stores(st[5], cur) else 0.0) for x, st in zip(opts, structs)]
    order = sorted(range(len(opts)), key=lambda j: (costs[j], j))
    gk = _struct_option(greedy)[0]
    g = next(j for j, st in enumerate(structs) if st[0] == gk)
    return _Choice([opts[j] for j in order], [costs[j] for j in order], [structs[j][1] for j in order],
                   [structs[j][2] for j in order], [structs[j][3] for j in order], [structs[j][4] for j in order],
                   list(codes), list(qtys), min(other, min(costs)) if not locked else math.inf, order.index(g),
                   locked, pickup, o.promise_min, [structs[j][0] for j in order])


def _add_avoiding(network: Network, cfg: Config, todo, choices: list[_Choice], current, hot: set, k: int,
                  threads: int = 1) -> int:
    """Give every order whose best option could draw on short stock the k cheapest options
    that draw on none: searched with every short (store, SKU) taken out of the stock. The k cheapest
    under the full stock all compete for the same nearby units when stock is thin; these
    are the ways out (a farther store, a split, a parcel) that greedy finds only for the
    orders routed last. Returns how many options were added."""
    idx = [i for i, ch in enumerate(choices) if not ch.fixed and _touches(ch, 0) & hot]
    if not idx:
        return 0
    r = Router(network, cfg)
    for st, code in hot:
        pos = r._search.stock_position(st, code)
        if pos >= 0:
            r._avail[pos] = 0
            r._search.refresh(st, pos)
    bulk = r.options_bulk([todo[i] for i in idx], k, threads=threads, node_limit=PLAN_NODE_LIMIT)
    added = 0
    for t, i in enumerate(idx):
        if bulk.searched[t]:
            added += _extend(choices[i], bulk.found(t), current[i], cfg)
    return added


def _extend(ch: _Choice, found: list, cur: int, cfg: Config) -> int:
    # add the options not listed yet, keeping the list sorted by cost
    n0 = len(ch.costs)
    keys = set(ch.keys)
    for f in found:
        st = _struct_found(f[2], ch.pickup)
        if st[0] in keys:
            continue
        keys.add(st[0])
        ch.opts.append(f)
        ch.costs.append(f[0] + (cfg.cost.move_penalty if _moved_stores(st[5], cur) else 0.0))
        ch.keys.append(st[0])
        ch.lines.append(st[1])
        ch.groups.append(st[2])
        ch.stores.append(st[3])
        ch.srcs.append(st[4])
    if len(ch.costs) == n0:
        return 0
    order = sorted(range(len(ch.costs)), key=lambda j: (ch.costs[j], j))
    for name in ("opts", "costs", "keys", "lines", "groups", "stores", "srcs"):
        vals = getattr(ch, name)
        setattr(ch, name, [vals[j] for j in order])
    ch.greedy = order.index(ch.greedy)
    return len(ch.costs) - n0


def _struct_found(els, pickup: int):
    """From the search's elements: (identity key, lines with holders, groups, capacity
    stores, own sources, package stores)."""
    holds: dict = {}
    src: dict = {}
    groups, stores, key, pk_stores = [], [], [], []
    into = []
    pick_lines = 0
    for kind, a, b, _eta, fa, fb, ha, hb in els:
        if a >= 0:
            holds[a] = holds.get(a, 0) | ha | fa
        if b >= 0:
            holds[b] = holds.get(b, 0) | hb | fb
        m, j = fa, 0
        while m:
            if m & 1:
                src[j] = a if kind != "pickup" else pickup
            m >>= 1
            j += 1
        m, j = fb, 0
        while m:
            if m & 1:
                src[j] = b
            m >>= 1
            j += 1
        if kind == "deliver" or kind == "parcel":
            groups.append([a])
            stores.append(a)
            pk_stores.append(a)
            key.append((kind, a, fa, ()))
        elif kind == "transfer":
            groups.append([a, b])
            groups.append([b])
            stores += [a, b]
            pk_stores.append(a)
            key.append(("deliver", a, fa, ((b, fb),)))
        elif kind == "pickup":
            pick_lines = fa
        else:  # into_pickup
            into.append((b, fb))
    if pickup >= 0 and els:
        if pickup not in holds:
            holds[pickup] = 0
        into.sort()
        groups.append([pickup] + [b for b, _ in into])
        groups.extend([b] for b, _ in into)
        stores += [pickup] + [b for b, _ in into]
        pk_stores.append(pickup)
        key.append(("pickup", pickup, pick_lines, tuple(into)))
    lines = [(j, sorted(st for st, m in holds.items() if (m >> j) & 1)) for j in sorted(src)]
    return tuple(sorted(key)), lines, groups, stores, src, pk_stores


def _mask(lines) -> int:
    m = 0
    for j in lines:
        m |= 1 << j
    return m


def _struct_option(x: Option):
    """``_struct_found`` for an Option."""
    holds = dict(x.holds)
    src = {}
    for st, j in x.sources():  # the search's own sources hold their lines
        holds[st] = holds.get(st, 0) | (1 << j)
        src[j] = st
    groups = []
    for p in x.packages:
        groups.append([p.store] + [b for b, _ in p.transfers])
        groups.extend([b] for b, _ in p.transfers)
    lines = [(j, sorted(st for st, m in holds.items() if (m >> j) & 1)) for j in sorted(src)]
    key = tuple(sorted((p.kind, p.store, _mask(p.lines), tuple((b, _mask(ls)) for b, ls in p.transfers))
                       for p in x.packages))
    return key, lines, groups, x.stores(), src, [p.store for p in x.packages]


def _moved_stores(pk_stores: list, cur: int) -> bool:
    # an order stays when every filled line ships in its current store's package
    if cur < 0 or not pk_stores:
        return False
    return not (len(pk_stores) == 1 and pk_stores[0] == cur)


def _moved(x: Option, cur: int) -> bool:
    # an order stays when every filled line ships in its current store's package
    if cur < 0 or not x.packages:
        return False
    return not (len(x.packages) == 1 and x.packages[0].store == cur)


def _cost_with_move(x: Option, cur: int, cfg: Config) -> float:
    return x.cost + (cfg.cost.move_penalty if _moved(x, cur) else 0.0)


class _Stock(dict):
    """Available units per (store, sku code): read from the router's stock table on first
    use (a backlog touches a small part of it), then kept, and changed, in the dict."""

    def __init__(self, indptr, sku, avail, items=()):
        super().__init__(items)
        self._indptr, self._sku, self._avail = indptr, sku, avail

    def __missing__(self, r):
        st, code = r
        a, b = int(self._indptr[st]), int(self._indptr[st + 1])
        k = a + int(np.searchsorted(self._sku[a:b], code))
        v = max(0, int(self._avail[k])) if k < b and self._sku[k] == code else 0
        self[r] = v
        return v

    def get(self, r, default=None):
        return self[r]

    def copy(self):
        return _Stock(self._indptr, self._sku, self._avail, self)


def _resources(router: Router, network: Network):
    """Available units per (store, sku code) and capacity per store, at the start."""
    avail = _Stock(router._indptr, router._sku, router._avail.copy())
    cap = {s: float(c) for s, c in enumerate(router._cap_left.tolist())}
    return avail, cap


# --- decomposition, model, bound -------------------------------------------------------------------

def _touches(ch: _Choice, j: int):
    """The (store, sku code) resources option j of an order could draw on."""
    return {(st, ch.codes[ln]) for ln, holders in ch.lines[j] for st in holders}


def _contended(choices: list[_Choice], avail: dict, cap: dict):
    """The (store, sku) and store-capacity resources that all orders' options together could
    ask more of than there is."""
    demand: dict = {}
    cap_demand: dict = {}
    for ch in choices:
        most: dict = {}
        for j in range(len(ch.costs)):
            for ln, holders in ch.lines[j]:
                for st in holders:
                    r = (st, ch.codes[ln])
                    most[r] = max(most.get(r, 0), ch.qty[ln])
        for r, q in most.items():
            demand[r] = demand.get(r, 0) + q
        for st in {st for ss in ch.stores for st in ss}:
            cap_demand[st] = cap_demand.get(st, 0) + 1
    hot = {r for r, q in demand.items() if q > avail.get(r, 0)}
    hot_cap = {st for st, q in cap_demand.items() if q > cap.get(st, math.inf)}
    return hot, hot_cap


def _decompose(choices: list[_Choice], avail: dict, cap: dict, hot: set, hot_cap: set):
    """Components of orders linked by contended resources; orders whose best option touches
    none of them are fixed to it, with its own sources."""
    fixed, rest = [], []
    for i, ch in enumerate(choices):
        if not ch.fixed and not (_touches(ch, 0) & hot) and not (set(ch.stores[0]) & hot_cap):
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
        touched = {("r",) + r for j in range(len(ch.costs)) for r in _touches(ch, j) if r in hot}
        touched |= {("c", st) for ss in ch.stores for st in ss if st in hot_cap}
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
    # what the fixed orders take is gone before the components are solved
    for i in fixed:
        ch = choices[i]
        for ln, st in ch.sourcing(0).items():
            r = (st, ch.codes[ln])
            avail[r] = avail.get(r, 0) - ch.qty[ln]
        for st in ch.stores[0]:
            cap[st] = cap.get(st, math.inf) - 1
    return sorted(comps.values(), key=lambda c: c[0]), fixed


def _solve(sub: list[_Choice], avail: dict, cap: dict, time_limit: float, seed: int, workers: int, c_unf: float,
           hot: set):
    """CP-SAT on one component (its orders' choices, the stock and capacity they may use):
    each order's option and each line's source. Returns, per order, (option position,
    {line: store or None}), the status, and CP-SAT's bound on the component's model (-inf
    when it has none). Never returns a plan costlier than the component's greedy choices. A
    plain function of plain data, for any executor.

    Stages (STAGES), each from the best plan so far: CP-SAT with every line's source fixed
    to the search's, 30% of the time (one variable per option: small, and it improves on
    greedy fast); HiGHS on the whole model (sources free where stock is short), 50%: an
    LP-based branch and bound, which on the contended 300-order benchmarks proves the
    optimum in about 30 s where CP-SAT's single worker stalled 1-4% above it; CP-SAT on the
    whole model, 20%, when HiGHS did not finish. A stage that proves the whole model's
    optimum ends the component."""
    comp = list(range(len(sub)))
    greedy = [(ch.greedy, ch.sourcing(ch.greedy)) for ch in sub]
    best, best_cost = greedy, sum(_sourced_cost(ch, j, src, c_unf) for ch, (j, src) in zip(sub, greedy))
    statuses = []
    bound = -math.inf
    for how, flex, share in STAGES:
        if how == "mip":
            if time_limit * share < MIP_MIN_TIME:
                continue
            found, st, b = _mip(sub, avail, cap, time_limit * share, workers, c_unf, hot, best)
        else:
            found, st, b = _cp_sat(comp, sub, avail, cap, time_limit * share, seed, workers, c_unf, hot, flex,
                                   best)
        if flex:  # with the sources fixed, a bound is not the model's
            bound = max(bound, b)
        statuses.append(st)
        if found is not None:
            cost = sum(_sourced_cost(ch, j, src, c_unf) for ch, (j, src) in zip(sub, found))
            if cost < best_cost - 1e-9:
                best, best_cost = found, cost
        if flex and st == "OPTIMAL":
            break  # proven: no later stage can do better
    name = "OPTIMAL" if statuses[-1] == "OPTIMAL" else ("FEASIBLE" if "FEASIBLE" in statuses or
                                                       "OPTIMAL" in statuses else statuses[-1])
    return best, name, bound


def _solve_blocks(sub: list[_Choice], avail: dict, cap: dict, time_limit: float, seed: int, workers: int,
                  c_unf: float, hot: set):
    """``_solve`` for a component too large for one model: its orders in blocks of BLOCK
    (neighbours together: ordered by the first store of their cheapest option), each block
    solved with ``_solve`` against the stock and capacity the rest of the component's
    current plan leaves, starting from greedy. Each block's plan is never worse than its
    greedy choices and always fits beside the others, so the component's plan is complete,
    feasible and never worse than greedy (a block-coordinate descent; no bound)."""
    n = len(sub)
    cur = [(ch.greedy, ch.sourcing(ch.greedy)) for ch in sub]
    used_r: dict = {}
    used_c: dict = {}

    def use(t, sign):
        ch = sub[t]
        j, src = cur[t]
        for ln, st in src.items():
            if st is not None:
                r = (st, ch.codes[ln])
                used_r[r] = used_r.get(r, 0) + sign * ch.qty[ln]
        for st in ch.stores[j]:
            used_c[st] = used_c.get(st, 0) + sign

    for t in range(n):
        use(t, 1)
    order = sorted(range(n), key=lambda t: (sub[t].stores[0][0] if sub[t].stores[0] else -1, t))
    statuses = []
    for a in range(0, n, BLOCK):
        blk = order[a:a + BLOCK]
        for t in blk:
            use(t, -1)
        bsub = [sub[t] for t in blk]
        touched = {(st, ch.codes[ln]) for ch in bsub for ls in ch.lines for ln, h in ls for st in h}
        b_avail = {r: avail.get(r, 0) - used_r.get(r, 0) for r in touched}
        b_cap = {st: cap.get(st, math.inf) - used_c.get(st, 0) for ch in bsub for ss in ch.stores for st in ss}
        picks, st, _ = _solve(bsub, b_avail, b_cap, time_limit * len(blk) / n, seed, workers, c_unf, hot & touched)
        statuses.append(st)
        for t, pick in zip(blk, picks):
            cur[t] = pick
            use(t, 1)
    return cur, ("FEASIBLE" if any(x in ("FEASIBLE", "OPTIMAL") for x in statuses) else _worst(statuses)), -math.inf


def _mip(sub: list[_Choice], avail: dict, cap: dict, time_limit: float, workers: int, c_unf: float, hot: set,
         hint):
    """The component's model (sources free where stock is short) by an LP-based MIP: HiGHS
    through OR-Tools' MIP interface. Its answer counts only
    when it proves it optimal within the time (wall clock: HiGHS has no deterministic time),
    so that a plan never depends on how fast the machine was; its bound counts always."""
    from ortools.linear_solver import pywraplp

    lm = linear_model(sub, avail, cap, c_unf, hot, True)
    if len(lm.cost) > MIP_MAX_COLUMNS:
        return None, "UNKNOWN", -math.inf
    s = pywraplp.Solver.CreateSolver("HIGHS")
    if s is None:
        return None, "UNKNOWN", -math.inf
    s.SuppressOutput()
    s.SetSolverSpecificParametersAsString("output_flag=false")  # HiGHS's banner and log, off
    inf = s.infinity()
    v = [s.BoolVar("") for _ in lm.cost]
    for cols, coefs, lo, hi in lm.rows:
        c = s.Constraint(-inf if math.isinf(lo) else lo, inf if math.isinf(hi) else hi)
        for a, q in zip(cols, coefs):
            c.SetCoefficient(v[a], q)
    obj = s.Objective()
    for a, c in enumerate(lm.cost):
        if c:
            obj.SetCoefficient(v[a], c)
    obj.SetMinimization()
    # (no hint: OR-Tools 9.15's HiGHS interface crashes on SetHint)
    s.SetNumThreads(int(max(1, workers)))
    s.SetTimeLimit(int(max(100, 1000 * time_limit)))
    code = s.Solve()
    bound = obj.BestBound() if code in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE) else -math.inf
    if code != pywraplp.Solver.OPTIMAL:
        return None, "FEASIBLE" if code == pywraplp.Solver.FEASIBLE else "UNKNOWN", bound
    return lm.decode(sub, lambda a: v[a].solution_value()), "OPTIMAL", bound


@dataclass
class LinearModel:
    """The 0-1 program of a component, for any solver: minimise ``cost . v`` subject to
    ``lo <= A v <= hi`` (rows as (columns, coefficients)), every v binary. ``x[i][j]`` is
    order i's option j; ``y[(i, j, line)]`` that line's (store or None, column) choices when
    its source is free (else it comes from the option's own source)."""

    cost: list[float]
    rows: list[tuple[list[int], list[int], float, float]]
    x: list[list[int]]
    y: dict

    def decode(self, choices: list[_Choice], value) -> list[tuple[int, dict]]:
        """Per order: (the option taken, {line: store or None}) from a 0-1 solution."""
        out = []
        for i, xs in enumerate(self.x):
            j = max(range(len(xs)), key=lambda jj: value(xs[jj]))
            src = choices[i].sourcing(j)
            for ln in list(src):
                ys = self.y.get((i, j, ln))
                if ys is not None:
                    src[ln] = next((st for st, col in ys if value(col) > 0.5), None)
            out.append((j, src))
        return out


def linear_model(choices: list[_Choice], avail: dict, cap: dict, c_unf: float, hot: set, flex: bool) -> LinearModel:
    """The model of one component (its orders' choices, the stock and capacity they may use):
    one column per option; with ``flex``, one per (line, store of the option holding it)
    and one for "unfilled" wherever the line could come from a short (store, SKU); stock
    and capacity rows only where they can bind."""
    cost: list[float] = []
    rows: list = []
    xcols: list[list[int]] = []
    ycols: dict = {}
    by_res: dict = {}
    by_cap: dict = {}

    def col(c: float) -> int:
        cost.append(c)
        return len(cost) - 1

    for i, ch in enumerate(choices):
        xs = []
        for j in range(len(ch.costs)):
            v = col(ch.costs[j])
            xs.append(v)
            supply: dict = {}
            fixed_from: dict = {}
            own = ch.srcs[j]
            for ln, holders in ch.lines[j]:
                code = ch.codes[ln]
                if not flex or not any((st, code) in hot for st in holders):
                    # the line's source stays the search's: no column of its own
                    fixed_from[own[ln]] = fixed_from.get(own[ln], 0) + 1
                    if (own[ln], code) in hot:
                        by_res.setdefault((own[ln], code), []).append((ch.qty[ln], v))
                    continue
                ys = []
                for st in holders:
                    w = col(0.0)
                    ys.append((st, w))
                    by_res.setdefault((st, code), []).append((ch.qty[ln], w))
                    supply.setdefault(st, []).append(w)
                ys.append((None, col(c_unf)))
                ycols[(i, j, ln)] = ys
                # the line's sources (or unfilled) add up to the option: sum(y) - x == 0
                rows.append(([w for _, w in ys] + [v], [1] * len(ys) + [-1], 0.0, 0.0))
            for grp in ch.groups[j]:  # every package and every transfer carries a line
                if not any(fixed_from.get(st, 0) for st in grp):
                    ws = [w for st in grp for w in supply.get(st, [])]
                    rows.append((ws + [v], [1] * len(ws) + [-1], 0.0, math.inf))
            for st in ch.stores[j]:
                by_cap.setdefault(st, []).append(v)
        xcols.append(xs)
        rows.append((xs, [1] * len(xs), 1.0, 1.0))
    for r, terms in by_res.items():
        a = max(0, avail.get(r, 0))
        if sum(q for q, _ in terms) > a:
            rows.append(([w for _, w in terms], [q for q, _ in terms], -math.inf, float(a)))
    for st, vs in by_cap.items():
        c = cap.get(st, math.inf)
        if math.isfinite(c) and len(vs) > c:
            rows.append((vs, [1] * len(vs), -math.inf, float(int(max(0, c)))))
    return LinearModel(cost, rows, xcols, ycols)


def _cp_sat(comp, choices, avail, cap, time_limit, seed, workers, c_unf, hot, flex, hint):
    # the component's linear model in CP-SAT, from the hint; flex: free line sources where
    # stock is short
    from ortools.sat.python import cp_model

    lm = linear_model([choices[i] for i in comp], avail, cap, c_unf, hot, flex)
    m = cp_model.CpModel()
    v = [m.new_bool_var("") for _ in lm.cost]
    for cols, coefs, lo, hi in lm.rows:
        expr = cp_model.LinearExpr.weighted_sum([v[c] for c in cols], coefs)
        if lo == hi:
            m.add(expr == int(lo))
        elif math.isinf(hi):
            m.add(expr >= int(lo))
        else:
            m.add(expr <= int(hi))
    m.minimize(cp_model.LinearExpr.weighted_sum(v, [round(c * COST_SCALE) for c in lm.cost]))
    # the hint: the true entries (propagation sets the rest)
    for t, (hj, hsrc) in enumerate(hint):
        m.add_hint(v[lm.x[t][hj]], True)
        for ln, st in hsrc.items():
            for st2, c in lm.y.get((t, hj, ln), ()):
                if st2 == st:
                    m.add_hint(v[c], True)
    solver = cp_model.CpSolver()
    # the limit is in CP-SAT's deterministic time (about a second of work each), so that one
    # worker and a seed give the same plan on every run; wall time caps it at twice that
    solver.parameters.max_deterministic_time = float(max(0.05, time_limit))
    solver.parameters.max_time_in_seconds = float(max(0.1, 2 * time_limit))
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = int(max(1, workers))
    st_code = solver.solve(m)
    bound = solver.best_objective_bound / COST_SCALE if st_code in (cp_model.OPTIMAL, cp_model.FEASIBLE) else -math.inf
    if st_code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, solver.status_name(st_code), bound
    # costs were rounded to thousandths for CP-SAT: the bound, less that rounding
    # (each order takes at most one option and one "unfilled" per line)
    bound -= 0.0005 * sum(1 + len(choices[i].codes) for i in comp)
    found = lm.decode([choices[i] for i in comp], lambda c: solver.boolean_value(v[c]))
    return found, solver.status_name(st_code), bound


def _sourced_cost(ch: _Choice, j: int, src: dict, c_unf: float) -> float:
    """Option j's cost with the given line sources: each line left without one is unfilled."""
    return ch.costs[j] + c_unf * sum(1 for v in src.values() if v is None)


def _resourced(x: Option, src: dict, promise: float, cfg: Config) -> Option:
    """Option x with its lines taken from the given stores (None: unfilled)."""
    if src == {st_j[1]: st_j[0] for st_j in x.sources()}:
        return x
    pk = []
    for p in x.packages:
        own = tuple(sorted(j for j, st in src.items() if st == p.store))
        trs = tuple((b, tuple(sorted(j for j, st in src.items() if st == b))) for b, _ in p.transfers)
        pk.append(Package(p.store, p.kind, p.eta_min, own, trs))
    unfilled = tuple(sorted(set(x.unfilled) | {j for j, st in src.items() if st is None}))
    br = cost_breakdown(cfg, promise, x.eta_min if pk else 0.0, len(pk), sum(p.kind == "parcel" for p in pk),
                        sum(len(p.transfers) for p in pk), len(unfilled))
    return Option(br["total"], x.eta_min, tuple(pk), unfilled, br, x.holds)


def _worst(statuses: list[str]) -> str:
    for s in ("MODEL_INVALID", "UNKNOWN", "FEASIBLE"):
        if s in statuses:
            return s
    return "OPTIMAL"


def _lp_bound(choices: list[_Choice], avail: dict, cap: dict, c_unf: float, hot: set, other: bool = True,
              time_limit: float = math.inf) -> float:
    """GLOP on the LP relaxation of the model (options and line sources); with ``other``, an
    "any other option" column per order (see the module's docstring for what it bounds),
    else a bound on the model's listed options only (tighter)."""
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver("GLOP")
    by_res: dict = {}
    by_cap: dict = {}
    obj = s.Objective()
    for ch in choices:
        row = s.Constraint(1.0, 1.0)
        for j in range(len(ch.costs)):
            v = s.NumVar(0.0, 1.0, "")
            row.SetCoefficient(v, 1.0)
            obj.SetCoefficient(v, ch.costs[j])
            for ln, holders in ch.lines[j]:
                if not any((st, ch.codes[ln]) in hot for st in holders):
                    continue  # no constraint can bind it: its source stays the search's
                link = s.Constraint(0.0, 0.0)  # the line's sources sum to the option's share
                link.SetCoefficient(v, -1.0)
                for st in holders:
                    w = s.NumVar(0.0, 1.0, "")
                    link.SetCoefficient(w, 1.0)
                    by_res.setdefault((st, ch.codes[ln]), []).append((ch.qty[ln], w))
                none = s.NumVar(0.0, 1.0, "")
                link.SetCoefficient(none, 1.0)
                obj.SetCoefficient(none, c_unf)
            for st in ch.stores[j]:
                by_cap.setdefault(st, []).append(v)
        if other and math.isfinite(ch.other):
            v = s.NumVar(0.0, 1.0, "")
            row.SetCoefficient(v, 1.0)
            obj.SetCoefficient(v, ch.other)
    for r, terms in by_res.items():
        if sum(q for q, _ in terms) > avail.get(r, 0):
            c = s.Constraint(-s.infinity(), float(max(0, avail.get(r, 0))))
            for q, w in terms:
                c.SetCoefficient(w, float(q))
    for st, vs in by_cap.items():
        cp = cap.get(st, math.inf)
        if math.isfinite(cp) and len(vs) > cp:
            c = s.Constraint(-s.infinity(), float(max(0, cp)))
            for v in vs:
                c.SetCoefficient(v, 1.0)
    obj.SetMinimization()
    if math.isfinite(time_limit):
        s.SetTimeLimit(int(max(1000, 1000 * time_limit)))
    if s.Solve() != pywraplp.Solver.OPTIMAL:
        return float("nan")
    return float(obj.Value())


# --- rows and summary --------------------------------------------------------------------------------

def _rows_of(o: Order, x: Option, cur: int, network: Network, cfg: Config, alone: _Choice | None) -> list[dict]:
    """The order's rows. Unfilled lines say why: no store stocks the SKU; the stock went to
    other orders (the order alone, with the full stock, would have had it); or no store that
    could serve the order holds enough."""
    skus, _, line_of = merge_lines([s for s, _ in o.lines], [q for _, q in o.lines])
    codes = network.inventory.codes(skus)
    # the lines the order's best option fills with the full stock
    had = set() if alone is None else {j for j, _ in alone.lines[0]}
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
             n_comp, policy, largest=0) -> dict:
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
        "lower_bound": bound if bound is not None and math.isfinite(bound) else None,
        "gap": gap,
        "model_lower_bound": model_bound if model_bound is not None and math.isfinite(model_bound) else None,
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
        "orders_in_solver": n_solver, "components": n_comp, "largest_component": largest,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "versions": {"omnifill": __version__, "ortools": ortools.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    }


__all__ = ["LinearModel", "Plan", "check_plan_path", "export_model", "linear_model", "model_options", "plan"]
